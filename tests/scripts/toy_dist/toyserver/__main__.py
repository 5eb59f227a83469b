import sys

from toyserver import main

main(sys.argv[1:])
