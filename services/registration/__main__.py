from services.registration.bootstrap import build
from shared.service import main

main(build)
