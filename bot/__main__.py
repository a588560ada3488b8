"""`cutout-bot` / `python -m bot`: start the bot, or run the command-line tool.

Start-up only: config → store → runner → app → serve, and signal handling.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from importlib import resources
from pathlib import Path

from bot.cli.batch import EXIT_USAGE, run_cutout
from bot.cli.check import run_check
from bot.config import Config, ConfigError
from bot.imaging.threads import return_freed_images_to_the_system
from bot.logs import configure_logging
from bot.server import Bot

logger = logging.getLogger("bot")

SAMPLE_NAME = "sample-product.jpg"
SAMPLE_SPEC = "product local"
SAMPLE_OUT = "cutout-out"


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
        help="cut out local images: cutout-bot cutout PATH... SPEC-WORDS [--out DIR] [--jobs N]",
        description="Cut out image files and folders (searched recursively) with the same spec words as in Slack, "
        "e.g. `cutout-bot cutout shirt.jpg lookbook/ apparel tops whiteBK --out results/`. A file's results go "
        "beside it, a folder's into a sibling `<folder>-cutouts`, unless --out says otherwise. Nothing is "
        "overwritten (a taken name gets -2, -3…), nothing is written through a symlink, and links in a folder "
        "that lead outside what was given are skipped.",
    )
    cutout.add_argument(
        "items", nargs="+", metavar="PATH... SPEC-WORDS", help="image files and folders, then the spec words"
    )
    cutout.add_argument("--out", type=Path, default=None, help="folder for the results")
    cutout.add_argument(
        "--jobs", type=int, default=2, metavar="N", help="images worked on at once (default 2)"
    )
    check = commands.add_parser(
        "check",
        help="check listing photos against a marketplace's rules: cutout-bot check PATH... PRESET",
        description="Measure image files and folders as they are against a marketplace's rules for a main "
        "image (amazon, shopify, ebay, etsy, walmart, google): background, fill, centring, size, format, bytes, "
        "transparency. Nothing is cut and no vendor is called. Exit status 1 when any image fails.",
    )
    check.add_argument(
        "items", nargs="+", metavar="PATH... PRESET", help="image files and folders, then a marketplace"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return_freed_images_to_the_system()
    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"cutout-bot: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check":
        configure_logging("WARNING", config.secrets)
        return asyncio.run(run_check(args.items))
    if args.command == "cutout" or (args.command is None and not config.slack_bot_token):
        # The command-line tool speaks through its progress bar and summary: only warnings are logged.
        configure_logging("WARNING" if config.log_level == "INFO" else config.log_level, config.secrets)
        if args.command == "cutout":
            if args.jobs < 1:
                print("cutout-bot: --jobs takes a whole number from 1", file=sys.stderr)
                return EXIT_USAGE
            return asyncio.run(run_cutout(config, args.items, out_dir=args.out, jobs=args.jobs))
        return run_sample(config)
    configure_logging(config.log_level, config.secrets)
    try:
        bot = Bot(config)
    except ConfigError as error:
        print(f"cutout-bot: {error}", file=sys.stderr)
        return EXIT_USAGE
    asyncio.run(serve(bot))
    return 0


def run_sample(config: Config) -> int:
    """With no Slack token, the main job is the command-line tool on the bundled sample, on the local engine."""
    sample = resources.files("bot") / "samples" / SAMPLE_NAME
    print(
        "No SLACK_BOT_TOKEN is set, so instead of starting the bot this cuts out the bundled sample image on the "
        "local engine (set the Slack tokens, see the README, to start the bot).",
        file=sys.stderr,
    )
    with resources.as_file(sample) as path:
        return asyncio.run(run_cutout(config, [str(path), *SAMPLE_SPEC.split()], out_dir=Path(SAMPLE_OUT)))


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
