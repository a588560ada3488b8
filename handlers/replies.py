"""The text of the bot's ephemeral replies to `/cutout` sub-commands."""

from __future__ import annotations

from bot.domain.grammar import MODE_WORDS, PRESET_WORDS, Mode, Spec
from bot.domain.tasks import ChannelSettings, Task
from bot.domain.text import code
from bot.domain.usage import LimitScope, UsageLimit

EXAMPLES: dict[Mode, tuple[str, ...]] = {
    Mode.APPAREL: ("apparel", "apparel tops,coat whiteBK", "apparel pants mask"),
    Mode.PORTRAIT: ("portrait", "portrait whiteBK", "portrait crop"),
    Mode.PRODUCT: ("product", "product white 800x800"),
    Mode.SEGMENT: ("segment", "segment fashion ultra", "segment all parts cutouts"),
}


def help_text(engines: dict[Mode, str | None], *, settings_by: str = "everyone") -> str:
    lines = [
        "*Cutout* cuts the subject out of an image and replies in the image's thread.",
        "Drop an image with a spec as its message (`apparel tops whiteBK`), or type `/cutout <spec>` "
        "after posting one (it runs on your image of the last 10 minutes, or on your next one). "
        "In an image's thread, reply with a spec to run it again; on any message with images, "
        "*Cut out image* in its ⋮ menu lets you choose. Results have buttons for common variations.",
        "",
    ]
    for mode in Mode:
        engine = engines.get(mode)
        where = f"runs on {engine}" if engine else "not configured"
        words = ", ".join(f"`{w}`" for w in MODE_WORDS[mode])
        examples = "  ".join(f"`/cutout {e}`" for e in EXAMPLES[mode])
        lines.append(f"• *{mode}* ({where}) — words: {words}\n    {examples}")
    lines += [
        "",
        "*Listing images*, in any mode: a marketplace — " + ", ".join(f"`{w}`" for w in PRESET_WORDS) + " — "
        "lays the cut-out out for its main image (canvas, white background, fill, JPEG under its cap) with a "
        "compliance report; or choose `fill=85%` / `margin=5%`, `bg=#F5F5F5` / `bg=transparent`, `size=1600` / "
        "`size=2000x1500`, `shadow`. `/cutout product amazon`",
        "*Check a listing photo* as it is, with no cut and no vendor: `/cutout check amazon` "
        "(or drop the image with the words `check amazon`).",
        "",
        "Also: `/cutout status` · `/cutout history` · `/cutout cancel [task]` · "
        "`/cutout default <spec>` (this channel's spec for dropped images) · `/cutout auto on|off`",
        "*Spending*: `/cutout usage` (this month's images and their estimated cost) · `/cutout limit` (the "
        "limits) · `/cutout limit channel|workspace|@user N day|month` · `/cutout limit channel off`",
        f"`default`, `auto` and `limit` can be changed by {settings_by}.",
    ]
    return "\n".join(lines)


def task_line(task: Task) -> str:
    reason = f" — {task.error_code}" if task.error_code and task.state.value == "failed" else ""
    return f"#{task.id} `{task.spec.words()}` on {code(task.file.name)} in <#{task.channel_id}>: {task.state}{reason}"


def status_text(tasks: list[Task], queue_length: int, settings: ChannelSettings, default: Spec) -> str:
    lines = ["*Your unfinished tasks*"] if tasks else ["You have no unfinished tasks."]
    lines += [f"• {task_line(t)}" for t in tasks]
    lines.append(f"Queue: {queue_length} task(s) waiting in all.")
    lines.append(channel_text(settings, default))
    return "\n".join(lines)


def channel_text(settings: ChannelSettings, default: Spec) -> str:
    spec = settings.default_spec or default
    origin = "this channel's default" if settings.default_spec else "the workspace default"
    auto = "on" if settings.auto else "off"
    return f"In this channel, images dropped without a spec run `{spec.words()}` ({origin}); auto-processing is {auto}."


def limit_line(limit: UsageLimit) -> str:
    """mrkdwn: "this channel (<#C1>): 100 images a day"."""
    who = {
        LimitScope.CHANNEL: f"the channel <#{limit.target}>",
        LimitScope.WORKSPACE: "the workspace",
        LimitScope.USER: f"<@{limit.target}>",
    }[limit.scope]
    return (
        f"{who}: {limit.max_images} image{'s' if limit.max_images != 1 else ''} a {limit.period.value} (UTC)"
    )


def limits_text(limits: list[UsageLimit]) -> str:
    if not limits:
        return (
            "No limits are set: images go to the paid vendors as they come. "
            "Set one with `/cutout limit channel 100 day` (or `workspace`, or `@someone`; `month` works too)."
        )
    return "*Limits on images sent to paid vendors*\n" + "\n".join(
        f"• {limit_line(limit)}" for limit in limits
    )
