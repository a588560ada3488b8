"""`cutout-bot` / `python -m bot`: start the bot, or run the command-line tool.

Start-up only: config → store → runner → app → serve, and signal handling.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bot.cli import EXIT_USAGE, run_cutout
from bot.config import Config, ConfigError
from bot.logs import configure_logging
from bot.server import Bot

logger = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cutout-bot",
        description="A Slack app that cuts images out and replies in the thread. "
        "Configuration comes from the environment and a .env file (see the README).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "run",
        help="start the bot (the default): Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT",
        description="Start the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode on PORT.",
    )
    cutout = commands.add_parser(
        "cutout",
        help="cut out local image files: cutout-bot cutout IMAGE... SPEC-WORDS [--out DIR]",
        description="Cut out local image files with the same spec words as in Slack, "
        "e.g. `cutout-bot cutout shirt.jpg apparel tops whiteBK --out results/`.",
    )
    cutout.add_argument(
        "items", nargs="+", metavar="IMAGE... SPEC-WORDS", help="image files, then the spec words"
    )
    cutout.add_argument(
        "--out", type=Path, default=None, help="folder for the results (default: beside each image)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"cutout-bot: {error}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(config.log_level, config.secrets)
    if args.command == "cutout":
        return asyncio.run(run_cutout(config, args.items, out_dir=args.out))
    try:
        bot = Bot(config)
    except ConfigError as error:
        print(f"cutout-bot: {error}", file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(serve(bot))
    return 0


async def serve(bot: Bot) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await bot.start()
        await stop.wait()
        logger.info("shutting down: finishing running steps (up to %g s)", bot.config.shutdown_grace_s)
    finally:
        await bot.stop(bot.config.shutdown_grace_s)
        logger.info("stopped")


if __name__ == "__main__":
    sys.exit(main())
