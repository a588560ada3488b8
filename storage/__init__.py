"""The SQLite store: schema, migrations and every query. Nothing else touches SQL."""

from storage.models import (
    LOCAL_FILE_ID,
    UNFINISHED_STATES,
    URL_FILE_ID,
    ChannelSettings,
    ImageRecord,
    InboxEntry,
    NewTask,
    ResultFile,
    SourceFile,
    StoredPart,
    Task,
    TaskSource,
    TaskState,
    Usage,
)
from storage.store import Store

__all__ = [
    "LOCAL_FILE_ID",
    "UNFINISHED_STATES",
    "URL_FILE_ID",
    "ChannelSettings",
    "ImageRecord",
    "InboxEntry",
    "NewTask",
    "ResultFile",
    "SourceFile",
    "Store",
    "StoredPart",
    "Task",
    "TaskSource",
    "TaskState",
    "Usage",
]
