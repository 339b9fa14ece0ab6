from cutover.cli import run

run()
