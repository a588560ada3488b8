"""`manifest.yml` is a valid Slack manifest and declares exactly what `register_handlers` wires up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import yaml

from handlers import register_handlers
from tests.paths import DATA, ROOT

SCHEMA = DATA / "slack" / "manifest.schema.1.0.0.json"

# What each Web API method the bot calls needs (slack-notes §1.4, §2; method reference pages).
SCOPES_FOR_METHODS = {
    "chat.postMessage": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.getPermalink": set(),
    "reactions.add": {"reactions:write"},
    "reactions.remove": {"reactions:write"},
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    "url_private_download": {"files:read"},
    "files.info": {"files:read"},
    "conversations.replies": set(),  # the *:history scopes of the message events cover it
    "conversations.history": set(),
    "auth.test": set(),
    "users.info": {"users:read"},  # who may change settings (the workspace's admins and owners)
}
EVENT_SCOPES = {"file_shared": "files:read"}
MESSAGE_EVENTS = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
}


class RecordingApp:
    """Stands in for AsyncApp and records what register_handlers attaches."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.events: list[str] = []
        self.shortcuts: list[str] = []
        self.actions: list[object] = []
        self.views: list[str] = []

    def command(self, name: str) -> Callable[[Any], Any]:
        self.commands.append(name)
        return lambda f: f

    def event(self, spec: str | dict[str, str]) -> Callable[[Any], Any]:
        self.events.append(spec if isinstance(spec, str) else spec["type"])
        return lambda f: f

    def shortcut(self, callback_id: str) -> Callable[[Any], Any]:
        self.shortcuts.append(callback_id)
        return lambda f: f

    def action(self, action_id: object) -> Callable[[Any], Any]:
        self.actions.append(action_id)
        return lambda f: f

    def view(self, callback_id: str) -> Callable[[Any], Any]:
        self.views.append(callback_id)
        return lambda f: f


def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_validates_against_slacks_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(manifest())


def test_the_schema_rejects_a_broken_manifest() -> None:
    broken = manifest()
    broken["features"]["slash_commands"][0]["command"] = "cutout"  # no leading slash
    errors = list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))
    assert errors


def test_manifest_declares_exactly_the_registered_commands_shortcuts_and_events() -> None:
    app = RecordingApp()
    register_handlers(app)  # type: ignore[arg-type]
    declared = manifest()
    commands = [c["command"] for c in declared["features"].get("slash_commands", [])]
    assert sorted(commands) == sorted(set(app.commands))
    shortcuts = [s["callback_id"] for s in declared["features"].get("shortcuts", [])]
    assert sorted(shortcuts) == sorted(set(app.shortcuts))
    wanted_events: set[str] = set()
    for event in set(app.events):
        wanted_events |= set(MESSAGE_EVENTS) if event == "message" else {event}
    assert sorted(declared["settings"]["event_subscriptions"]["bot_events"]) == sorted(wanted_events)


def test_manifest_asks_for_exactly_the_scopes_the_bot_uses() -> None:
    declared = manifest()
    needed = {"commands"} | set().union(*SCOPES_FOR_METHODS.values())
    needed |= {
        MESSAGE_EVENTS[e]
        for e in declared["settings"]["event_subscriptions"]["bot_events"]
        if e in MESSAGE_EVENTS
    }
    assert sorted(declared["oauth_config"]["scopes"]["bot"]) == sorted(needed)


def test_socket_mode_is_on() -> None:
    assert manifest()["settings"]["socket_mode_enabled"] is True


def test_interactivity_and_the_home_tab_are_on_when_listeners_need_them() -> None:
    app = RecordingApp()
    register_handlers(app)  # type: ignore[arg-type]
    declared = manifest()
    if app.actions or app.views or app.shortcuts:
        assert declared["settings"]["interactivity"]["is_enabled"] is True
    assert declared["features"]["app_home"]["home_tab_enabled"] is ("app_home_opened" in app.events)
    assert declared["features"]["app_home"]["messages_tab_enabled"] is True  # images can be sent in a DM


def test_the_shortcut_is_a_message_shortcut_named_as_users_see_it() -> None:
    (shortcut,) = manifest()["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"], shortcut["name"]) == (
        "message",
        "cutout_message",
        "Cut out image",
    )
