"""Command line entry point for {{ cookiecutter.project_name }}."""
import argparse
import sys

from {{ cookiecutter.package_name }} import __version__
from {{ cookiecutter.package_name }}.core import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="{{ cookiecutter.command_name }}",
        description="{{ cookiecutter.short_description }}",
    )
    parser.add_argument("--version", action="version", version=__version__)
    parser.add_argument("paths", nargs="*", help="files to process")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.paths)


if __name__ == "__main__":
    sys.exit(main())
