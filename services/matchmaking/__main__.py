from services.matchmaking.bootstrap import build
from shared.service import main

main(build)
