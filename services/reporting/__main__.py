from services.reporting.bootstrap import build
from shared.service import main

main(build)
