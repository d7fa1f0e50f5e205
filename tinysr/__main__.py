"""The ``tinysr`` command (also ``python -m tinysr``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tinysr", description="Image super-resolution from scratch on NumPy and Numba."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="build a tiny network, gradcheck it and train it for a few steps")
    demo.add_argument("--steps", type=int, default=200, help="training steps (default: 200)")
    demo.add_argument("--seed", type=int, default=0, help="seed for weights and data (default: 0)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        if args.steps < 1:
            parser.error(f"--steps must be >= 1, got {args.steps}")
        from tinysr.demo import run

        run(steps=args.steps, seed=args.seed)
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
