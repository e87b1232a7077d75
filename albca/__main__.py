"""`python -m albca` runs the command line, as the `albca` script does."""

from albca.cli import main

if __name__ == "__main__":
    main()
