"""Every Block Kit payload the bot sends, built from slack-sdk's block models (which validate on to_dict).

result_blocks   the result message: summary, task context, one-click re-runs
failure_blocks  a failure told in the thread, with a "try again" button
cutout_modal    the "Cut out image" modal: mode, that mode's options, which images
home_view       the App Home tab
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.grammar import CLOTH_CLASSES, Mode, Output, SegmentClasses, Spec, parse_spec
from bot.domain.listing import PRESETS, ComplianceReport, Layout, Preset
from bot.domain.reports import ProgressReport, ProgressStage, ResultReport
from bot.domain.tasks import ChannelSettings, ImageRecord, Task, Usage
from bot.domain.text import code, escape, mrkdwn
from bot.domain.usage import UsageReport
from bot.domain.vendors import AIDGE, AILAB, PICWISH

RERUN_ACTION = "rerun"  # action ids are "rerun_0", "rerun_1"…; the value is "<task id>|<spec words>"
MODAL_CALLBACK = "cutout_modal"
MODAL_MODE_ACTION = "modal_mode"

_MODE_LOOKS = {
    Mode.APPAREL: (Output.TRANSPARENT, Output.WHITE, Output.MASK),
    Mode.PORTRAIT: (Output.TRANSPARENT, Output.WHITE, Output.MASK, Output.CROP),
    Mode.PRODUCT: (Output.TRANSPARENT, Output.WHITE),
}
_MODE_LABELS = {
    Mode.APPAREL: f"Apparel ({AILAB})",
    Mode.PORTRAIT: f"Portrait ({AILAB})",
    Mode.PRODUCT: f"Product ({AIDGE})",
    Mode.SEGMENT: f"Clothing segmentation ({PICWISH})",
}
_SEGMENT_LABELS = {
    SegmentClasses.CLOTHING: "Clothing",
    SegmentClasses.FASHION: "Fashion (+ bag, shoes)",
    SegmentClasses.PERSON: "Person (hair, face, body)",
    SegmentClasses.ALL: "Everything",
}
_SEGMENT_FLAGS = {
    "ultra": "Ultra detail",
    "parts": "ZIP of garment parts",
    "hq": "High precision",
    "cutouts": "A cut-out per class",
}


# --- messages in the thread --------------------------------------------------------------------


def variations(spec: Spec, presets: Sequence[Preset] = ()) -> list[tuple[str, Spec]]:
    """Common one-click changes to a spec, as (button label, new spec): the looks, and the marketplace
    presets the channel used last (`presets`, newest first)."""
    if spec.check is not None:  # a check cut nothing: offer the image made ready for that marketplace
        made = Spec(Mode.PRODUCT, layout=Layout(preset=spec.check))
        return [(f"Make it {PRESETS[spec.check].title}-ready", made)]
    listing = [
        (
            PRESETS[preset].title,
            dataclasses.replace(spec, output=_listable(spec.output), layout=Layout(preset=preset)),
        )
        for preset in presets
        if spec.layout is None or spec.layout.preset is not preset
    ][:2]
    return _looks(spec)[: 5 - len(listing)] + listing


def _listable(output: Output) -> Output:
    """A listing image is laid out on its background: a mask is no output for it."""
    return Output.TRANSPARENT if output is Output.MASK else output


def _looks(spec: Spec) -> list[tuple[str, Spec]]:
    if spec.layout is not None:  # a listing image: the plain cut-out instead
        return [("Cut-out only", dataclasses.replace(spec, layout=None))]
    if spec.mode is Mode.SEGMENT:
        options = []
        if not spec.cutouts:
            options.append(("+ Cut-outs", dataclasses.replace(spec, cutouts=True)))
        if not spec.parts:
            options.append(("+ Parts ZIP", dataclasses.replace(spec, parts=True)))
        if spec.segment_classes is not SegmentClasses.ALL:
            options.append(("All classes", dataclasses.replace(spec, segment_classes=SegmentClasses.ALL)))
        return options
    options = [
        (look.description.capitalize(), dataclasses.replace(spec, output=look))
        for look in _MODE_LOOKS[spec.mode]
        if look is not spec.output
    ]
    if spec.mode is Mode.PRODUCT and spec.size is not None:
        options.append(("Original size", dataclasses.replace(spec, size=None)))
    return options


def _rerun_buttons(task: Task, choices: Sequence[tuple[str, Spec]]) -> ActionsBlock:
    return ActionsBlock(
        block_id=f"rerun_{task.id}",
        elements=[
            ButtonElement(text=label, action_id=f"{RERUN_ACTION}_{index}", value=f"{task.id}|{spec.words()}")
            for index, (label, spec) in enumerate(choices[:5])
        ],
    )


def summary_text(task: Task) -> str:
    """The one-line summary of a result (mrkdwn): spec, engine, sizes, seconds, task, any notes, and a
    listing result's compliance report."""
    report = ResultReport.from_json(task.summary)
    if report is None:  # an older version stored the summary as text
        return task.summary or f"task #{task.id}"
    line = f"`{report.spec}` · {escape(report.engine)} · {report.sizes()} · {report.seconds:.1f} s · task #{task.id}"
    if report.notes:
        line += "\n:warning: " + "; ".join(escape(note) for note in report.notes)
    if report.compliance is not None:
        line += "\n" + compliance_text(report.compliance)
    return line


def compliance_text(report: ComplianceReport) -> str:
    """A compliance report (mrkdwn): its verdict, then each rule with what was measured and a mark."""
    title = PRESETS[report.preset].title
    failed = len(report.failed)
    verdict = (
        f"*{title} main image: passes all {len(report.checks)} rules*"
        if report.passed
        else f"*{title} main image: {failed} of {len(report.checks)} rules fail*"
    )
    lines = [verdict] + [
        f"{':white_check_mark:' if check.passed else ':x:'} {check.rule.value}: {escape(check.measured)}"
        + ("" if check.passed else f" (needs {escape(check.expected)})")
        for check in report.checks
    ]
    return "\n".join(lines)


def progress_text(report: ProgressReport) -> str:
    """A long task's progress message (mrkdwn)."""
    engine, name = escape(report.engine or "The vendor"), code(report.name)
    match report.stage:
        case ProgressStage.WORKING:
            done = f": {report.percent}% done" if report.percent is not None else ""
            return f":hourglass_flowing_sand: {engine} is working on {name}{done}."
        case ProgressStage.FINISHED:
            return f":white_check_mark: {engine} finished {name}."
        case ProgressStage.NOT_POSTED:
            return f"{engine} finished {name}; see below."
        case ProgressStage.FAILED:
            return f"{engine} stopped on {name}; see below."
        case ProgressStage.CANCELLED:
            return f"Stopped: {name} was cancelled."
    raise AssertionError(report.stage)


def failure_text(task: Task, reason: str) -> str:
    """The notification text of a failure message (its blocks carry the same reason, plain text)."""
    return f":x: {mrkdwn(reason)} (task #{task.id})"


def result_blocks(task: Task, presets: Sequence[Preset] = ()) -> list[dict[str, Any]]:
    """The result message: what was made (or, for a check, what was measured), the task, and re-runs with
    common variations and the channel's recent marketplace presets."""
    summary = summary_text(task)
    mark = ":mag:" if task.spec.check is not None else ":white_check_mark:"
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=f"{mark} {code(task.file.name)} — {summary}")),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"task #{task.id} · asked by <@{task.user_id}> · re-run below, or reply here with a spec"
                )
            ]
        ),
    ]
    if choices := variations(task.spec, presets):
        blocks.append(_rerun_buttons(task, choices))
    return [block.to_dict() for block in blocks]


def failure_blocks(task: Task, text: str) -> list[dict[str, Any]]:
    """A failure told in the thread, with a button to try the same again."""
    return [
        SectionBlock(text=MarkdownTextObject(text=f":x: {mrkdwn(text)}")).to_dict(),
        ContextBlock(
            elements=[MarkdownTextObject(text=f"task #{task.id} · `{task.spec.words()}`")]
        ).to_dict(),
        _rerun_buttons(task, [("Try again", task.spec)]).to_dict(),
    ]


def parse_rerun_value(value: str) -> tuple[int, Spec]:
    """The task and spec a re-run button carries."""
    number, words = value.split("|", 1)
    return int(number), parse_spec(words)


# --- the "Cut out image" modal -----------------------------------------------------------------


def cutout_modal(
    mode: Mode, images: Sequence[ImageRecord], *, channel_id: str, message_ts: str
) -> dict[str, Any]:
    """The modal for one message: pick the mode, that mode's options, and which images."""
    mode_select = StaticSelectElement(
        action_id=MODAL_MODE_ACTION,
        options=[_option(label, m.value) for m, label in _MODE_LABELS.items()],
        initial_option=_option(_MODE_LABELS[mode], mode.value),
    )
    blocks: list[Block] = [
        InputBlock(block_id="mode", label="Mode", element=mode_select, dispatch_action=True)
    ]
    blocks += _mode_inputs(mode)
    image_options = [_option(_short(image.file.name, 70), image.file.file_id) for image in images[:10]]
    blocks.append(
        InputBlock(
            block_id="images",
            label="Images",
            element=CheckboxesElement(
                action_id="images", options=image_options, initial_options=image_options
            ),
        )
    )
    view = View(
        type="modal",
        callback_id=MODAL_CALLBACK,
        title="Cut out image",
        submit="Cut out",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({"c": channel_id, "m": message_ts}),
    )
    return view.to_dict()


def _mode_inputs(mode: Mode) -> list[Block]:
    if mode is Mode.SEGMENT:
        classes = [_option(label, c.value) for c, label in _SEGMENT_LABELS.items()]
        flags = [_option(label, word) for word, label in _SEGMENT_FLAGS.items()]
        return [
            InputBlock(
                block_id="segment_classes",
                label="Classes",
                element=RadioButtonsElement(
                    action_id="segment_classes", options=classes, initial_option=classes[0]
                ),
            ),
            InputBlock(
                block_id="segment_flags",
                label="Extras",
                optional=True,
                element=CheckboxesElement(action_id="segment_flags", options=flags),
            ),
        ]
    looks = [_option(look.description.capitalize(), look.value) for look in _MODE_LOOKS[mode]]
    blocks: list[Block] = []
    if mode is Mode.APPAREL:
        blocks.append(
            InputBlock(
                block_id="classes",
                label="Garments (none: the main garment)",
                optional=True,
                element=CheckboxesElement(
                    action_id="classes", options=[_option(c, c) for c in CLOTH_CLASSES]
                ),
            )
        )
    blocks.append(
        InputBlock(
            block_id="look",
            label="Result",
            element=RadioButtonsElement(action_id="look", options=looks, initial_option=looks[0]),
        )
    )
    if mode is Mode.PRODUCT:
        blocks.append(
            InputBlock(
                block_id="size",
                label="Target size (optional)",
                optional=True,
                hint="Width x height, each 100–3000, e.g. 800x800. Empty: the original size.",
                element=PlainTextInputElement(action_id="size", placeholder="800x800", max_length=20),
            )
        )
    return blocks


def modal_words(values: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The spec words a submitted modal stands for (checked by the one grammar, like any other spec)."""

    def chosen(block: str) -> list[str]:
        state = next(iter(values.get(block, {}).values()), {})
        if state.get("selected_option"):
            return [state["selected_option"]["value"]]
        if state.get("selected_options"):
            return [option["value"] for option in state["selected_options"]]
        if state.get("value"):
            return [str(state["value"]).strip()]
        return []

    words = chosen("mode")
    classes = chosen("classes")
    if classes:
        words.append(",".join(classes))
    for block in ("look", "size", "segment_classes", "segment_flags"):
        words += chosen(block)
    return " ".join(words)


def modal_images(values: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    state = next(iter(values.get("images", {}).values()), {})
    return [option["value"] for option in state.get("selected_options") or []]


def modal_target(private_metadata: str) -> tuple[str, str]:
    meta = json.loads(private_metadata)
    return str(meta["c"]), str(meta["m"])


# --- App Home ----------------------------------------------------------------------------------


def home_view(
    *,
    tasks: Sequence[tuple[Task, str | None]],
    channels: Sequence[ChannelSettings],
    engines: dict[Mode, str | None],
    local_engine: bool,
    usage: Usage,
    spending: tuple[UsageReport, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """The App Home tab: what the bot does, your recent tasks, your channel defaults, vendors (each mode's
    route), usage, and this month's paid images with their estimated cost (`spending`: report, prices)."""
    blocks = [
        *_home_intro(),
        *_home_tasks(tasks),
        *_home_channels(channels),
        DividerBlock(),
        _home_vendors(engines, local_engine),
        _home_usage(usage),
        *([_home_spending(*spending)] if spending else []),
    ]
    return View(type="home", blocks=blocks).to_dict()


def _home_intro() -> list[Block]:
    return [
        HeaderBlock(text="Cutout"),
        SectionBlock(
            text=MarkdownTextObject(
                text="Cuts the subject out of product, garment and portrait photos and replies in the image's thread.\n"
                "Drop an image with a spec (`apparel tops whiteBK`), type `/cutout help`, or use *Cut out image* "
                "in a message's menu."
            )
        ),
        DividerBlock(),
    ]


def _home_tasks(tasks: Sequence[tuple[Task, str | None]]) -> list[Block]:
    """Your ten latest tasks, each with its spec, state, time and a link to its thread."""
    heading = SectionBlock(text=MarkdownTextObject(text="*Your recent tasks*"))
    if not tasks:
        none = MarkdownTextObject(text="None yet. Drop an image into a channel I am in.")
        return [heading, ContextBlock(elements=[none])]
    lines = []
    for task, link in tasks[:10]:
        when = f"<!date^{int(task.created_at)}^{{date_short_pretty}} {{time}}|{int(task.created_at)}>"
        where = f"<{link}|thread>" if link else f"<#{task.channel_id}>"
        lines.append(f"#{task.id} `{task.spec.words()}` · {task.state} · {when} · {where}")
    return [heading, SectionBlock(text=MarkdownTextObject(text="\n".join(lines)))]


def _home_channels(channels: Sequence[ChannelSettings]) -> list[Block]:
    """The defaults you set in channels (up to twenty)."""
    heading = SectionBlock(text=MarkdownTextObject(text="*Channel defaults you set*"))
    if not channels:
        none = MarkdownTextObject(text="None. `/cutout default <spec>` in a channel sets one.")
        return [heading, ContextBlock(elements=[none])]
    lines = [
        f"<#{c.channel_id}>: `{c.default_spec.words() if c.default_spec else 'workspace default'}`, "
        f"auto-processing {'on' if c.auto else 'off'}"
        for c in channels[:20]
    ]
    return [heading, SectionBlock(text=MarkdownTextObject(text="\n".join(lines)))]


def _home_vendors(engines: dict[Mode, str | None], local_engine: bool) -> Block:
    """Which engine runs each mode, and whether the local engine is on."""
    lines = [f"*{mode}*: {engine or 'not configured'}" for mode, engine in engines.items()]
    lines.append(f"*local engine*: {'on' if local_engine else 'off'}")
    return SectionBlock(text=MarkdownTextObject(text="*Vendors*\n" + "\n".join(lines)))


def _home_usage(usage: Usage) -> Block:
    """The last 30 days' tasks, counted by mode and by vendor."""
    return SectionBlock(
        text=MarkdownTextObject(text="*Last 30 days*"),
        fields=[
            MarkdownTextObject(text="*By mode*\n" + _counts(usage.by_mode)),
            MarkdownTextObject(text="*By vendor*\n" + _counts(usage.by_vendor)),
        ],
    )


def usage_text(report: UsageReport, prices: dict[str, float]) -> str:
    """This month's images sent to paid vendors, by engine, channel and person, with an estimated cost."""
    month = datetime.datetime.fromtimestamp(report.since, datetime.UTC).strftime("%B %Y")
    paid = sum(report.by_engine.values())
    cost = sum(count * prices.get(engine, 0.0) for engine, count in report.by_engine.items())
    lines = [
        f"*Usage in {month}* (UTC): {paid} image(s) sent to paid vendors, about ${cost:,.2f}; "
        f"{report.local} cut on the local engine (free)."
    ]
    if report.by_engine:
        lines.append(
            "*By engine*: "
            + " · ".join(
                f"{escape(engine)} {count} (${count * prices.get(engine, 0.0):,.2f} at ${prices.get(engine, 0.0):g} an image)"
                for engine, count in report.by_engine.items()
            )
        )
        lines.append(
            "*By channel*: " + " · ".join(f"<#{c}> {n}" for c, n in list(report.by_channel.items())[:10])
        )
        lines.append(
            "*By person*: " + " · ".join(f"<@{u}> {n}" for u, n in list(report.by_user.items())[:10])
        )
    lines.append("Prices are estimates from AILAB_PRICE, AIDGE_PRICE and PICWISH_PRICE.")
    return "\n".join(lines)


def _home_spending(report: UsageReport, prices: dict[str, float]) -> Block:
    return SectionBlock(text=MarkdownTextObject(text=usage_text(report, prices)))


def _counts(counts: dict[str, int]) -> str:
    return "\n".join(f"{name}: {count}" for name, count in counts.items()) or "no tasks"


def _option(label: str, value: str) -> Option:
    return Option(text=PlainTextObject(text=label), value=value)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
