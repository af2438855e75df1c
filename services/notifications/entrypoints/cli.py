"""``cxc mail``: what the local SMTP catcher of ``cxc run`` received."""

from __future__ import annotations

from pathlib import Path


def _mail_dir() -> Path:
    from cxc.cli import home

    return home() / "mail"


def cmd_mail_list(args) -> int:
    from services.notifications.adapters.mailcatcher import read_dir

    messages = read_dir(_mail_dir())
    if not messages:
        print(f"no mail in {_mail_dir()} (is `cxc run` running with its SMTP catcher?)")
        return 0
    for n, (path, msg) in enumerate(messages[-args.last:] if args.last else messages, start=1):
        attachments = [p.get_filename() for p in msg.iter_attachments()]
        print(f"{path.stem}  {msg['Date']}  to={msg['To']}  {str(msg['Subject']).strip()}"
              + (f"  [{', '.join(a for a in attachments if a)}]" if attachments else ""))
    return 0


def cmd_mail_show(args) -> int:
    from services.notifications.adapters.mailcatcher import read_dir

    for path, msg in read_dir(_mail_dir()):
        if path.stem.lstrip("0") == str(args.number).lstrip("0"):
            for header in ("Message-ID", "Date", "From", "To", "Subject", "List-Unsubscribe"):
                if msg[header]:
                    print(f"{header}: {str(msg[header]).strip()}")
            print()
            print(msg.get_body(("plain",)).get_content())
            for part in msg.iter_attachments():
                print(f"--- attachment {part.get_filename()} ({part.get_content_type()})")
                print(part.get_content() if part.get_content_maintype() == "text" else "(binary)")
            return 0
    print(f"no message {args.number} in {_mail_dir()}")
    return 1


def register(sub) -> None:
    from cxc.ops import examples

    mail = sub.add_parser("mail", help="mail caught by the local SMTP catcher of `cxc run`").add_subparsers(
        dest="mail_command", required=True)
    listing = mail.add_parser("list", help="one line per message: number, date, recipient, subject",
                              epilog=examples("cxc mail list", "cxc mail list --last 5"))
    listing.add_argument("--last", type=int, default=0, help="only the last N messages")
    listing.set_defaults(fn=cmd_mail_list)
    show = mail.add_parser("show", help="headers, text body and attachments of one message",
                           epilog=examples("cxc mail show 3"))
    show.add_argument("number", type=int, help="the message number mail list prints")
    show.set_defaults(fn=cmd_mail_show)
