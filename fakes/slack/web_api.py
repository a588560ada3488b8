"""The Web API methods on messages, threads, reactions and views, each answering as Slack documents it.
Files are in files.py and uploads.py, `apps.connections.open` in socket_mode.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from fakes.slack.blocks import read_blocks, read_view
from fakes.slack.core import SlackCore, error, ok, require
from fakes.slack.records import BOT_ID, BOT_USER_ID, TEAM_ID, FileMessage, Message, Posted


class WebApi(SlackCore):
    # --- what tests read ----------------------------------------------------------------------

    def reactions_on(self, channel: str, ts: str) -> set[str]:
        return set(self.reactions.get((channel, ts), set()))

    def in_thread(self, channel: str, thread_ts: str) -> list[Posted | FileMessage]:
        posted: list[Posted | FileMessage] = [
            m for m in self.messages if (m.channel, m.thread_ts) == (channel, thread_ts)
        ]
        posted += [m for m in self.file_messages if (m.channel, m.thread_ts) == (channel, thread_ts)]
        return posted

    # --- the methods ----------------------------------------------------------------------------

    async def _m_auth_test(self, params: dict[str, Any]) -> web.Response:
        return ok(
            url="https://fake.slack.test/",
            team="Fake",
            user="cutout",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
        )

    async def _m_users_info(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "user"):
            return missing
        if self.members is None:
            return web.json_response({"ok": False, "error": "missing_scope", "needed": "users:read"})
        flags = {"is_admin": False, "is_owner": False, "is_primary_owner": False}
        flags.update(self.members.get(params["user"], {}))
        return ok(user={"id": params["user"], "team_id": TEAM_ID, "deleted": False, **flags})

    async def _m_chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel"):
            return missing
        if not params.get("text") and not params.get("blocks"):
            return error("no_text")
        thread_ts = params.get("thread_ts")
        if problem := self._check_thread(params["channel"], thread_ts):
            return problem
        blocks = read_blocks(params.get("blocks"))
        if blocks is False:
            return error("invalid_blocks")
        ts = self.new_ts()
        self._roots[(params["channel"], ts)] = thread_ts
        self.messages.append(
            Posted(params["channel"], params.get("text", ""), thread_ts, ts=ts, blocks=blocks)
        )
        self.history.append(
            Message(
                params["channel"],
                ts,
                BOT_USER_ID,
                params.get("text", ""),
                thread_ts,
                bot_id=BOT_ID,
                blocks=blocks,
            )
        )
        return ok(channel=params["channel"], ts=ts)

    async def _m_chat_update(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel", "ts"):
            return missing
        for posted in self.messages:
            if (posted.channel, posted.ts) == (params["channel"], params["ts"]):
                posted.text = params.get("text", posted.text)
                self.updates.append((posted.ts, posted.text))
                return ok(channel=posted.channel, ts=posted.ts, text=posted.text)
        return error("message_not_found")

    async def _m_chat_postEphemeral(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel", "user", "text"):
            return missing
        self.ephemerals.append(
            Posted(params["channel"], params["text"], params.get("thread_ts"), params["user"])
        )
        return ok(message_ts=self.new_ts())

    async def _m_chat_getPermalink(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel", "message_ts"):
            return missing
        ts = params["message_ts"].replace(".", "")
        return ok(
            channel=params["channel"], permalink=f"https://fake.slack.test/archives/{params['channel']}/p{ts}"
        )

    async def _m_conversations_replies(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel", "ts"):
            return missing
        channel, root = params["channel"], params["ts"]
        thread = [m for m in self.history if m.channel == channel and (m.ts == root or m.thread_ts == root)]
        if not thread:
            return error("thread_not_found")
        return ok(
            messages=[m.as_slack() for m in thread], has_more=False, response_metadata={"next_cursor": ""}
        )

    async def _m_conversations_history(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel"):
            return missing
        messages = [m for m in self.history if m.channel == params["channel"] and m.thread_ts is None]
        if "latest" in params:
            inclusive = str(params.get("inclusive", "")).lower() in ("1", "true")
            messages = [
                m for m in messages if m.ts < params["latest"] or (inclusive and m.ts == params["latest"])
            ]
        newest_first = sorted(messages, key=lambda m: float(m.ts), reverse=True)[
            : int(params.get("limit", 100))
        ]
        return ok(messages=[m.as_slack() for m in newest_first], has_more=False)

    async def _m_reactions_add(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel", "timestamp", "name"):
            return missing
        key = (params["channel"], params["timestamp"])
        if key not in self._roots:
            return error("message_not_found")
        if params["name"] in self.reactions.setdefault(key, set()):
            return error("already_reacted")
        self.reactions[key].add(params["name"])
        self.reaction_log.append(("add", *key, params["name"]))
        return ok()

    async def _m_reactions_remove(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "channel", "timestamp", "name"):
            return missing
        key = (params["channel"], params["timestamp"])
        if params["name"] not in self.reactions.get(key, set()):
            return error("no_reaction")
        self.reactions[key].discard(params["name"])
        self.reaction_log.append(("remove", *key, params["name"]))
        return ok()

    async def _m_views_open(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "trigger_id", "view"):
            return missing
        if params["trigger_id"] not in self._triggers:
            return error("invalid_trigger_id")
        self._triggers.discard(params["trigger_id"])  # a trigger opens one view
        view = read_view(params["view"])
        if view is None:
            return error("invalid_arguments")
        view_id = f"V{next(self._ids):06d}"
        view.update({"id": view_id, "hash": f"h{next(self._ids)}"})
        self.views[view_id] = view
        self.opened_views.append(view_id)
        return ok(view=view)

    async def _m_views_update(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "view_id", "view"):
            return missing
        current = self.views.get(params["view_id"])
        if current is None:
            return error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            return error("hash_conflict")
        view = read_view(params["view"])
        if view is None:
            return error("invalid_arguments")
        view.update({"id": params["view_id"], "hash": f"h{next(self._ids)}"})
        self.views[params["view_id"]] = view
        return ok(view=view)

    async def _m_views_publish(self, params: dict[str, Any]) -> web.Response:
        if missing := require(params, "user_id", "view"):
            return missing
        view = read_view(params["view"])
        if view is None or view.get("type") != "home":
            return error("invalid_arguments")
        self.home_views[params["user_id"]] = view
        return ok(view=view)
