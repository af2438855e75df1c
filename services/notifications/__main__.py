from services.notifications.bootstrap import build
from shared.service import main

main(build)
