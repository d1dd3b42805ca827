"""A local Tencent SES emulator the unmodified official SDK talks to over HTTP (docs/tencent.md)."""

from orchestrator.ses.emulator.params import ApiError
from orchestrator.ses.emulator.records import CallRecord, LogFileError, SendRecord, StatusRecord
from orchestrator.ses.emulator.server import RunningEmulator, build_app, run_emulator
from orchestrator.ses.emulator.service import SesEmulator
from orchestrator.ses.emulator.world import (
    DEFAULT_SECRET_ID,
    DEFAULT_SECRET_KEY,
    Account,
    Behaviour,
    FaultRule,
    IdentityConfig,
    Latency,
    SenderBehaviour,
    TemplateConfig,
    World,
    WorldFileError,
    emulator_pair,
    permissive_credentials,
    permissive_world,
    quota_for_level,
    world_from_dict,
)
from orchestrator.ses.emulator.world_file import load_world

__all__ = [
    "DEFAULT_SECRET_ID",
    "DEFAULT_SECRET_KEY",
    "Account",
    "ApiError",
    "Behaviour",
    "CallRecord",
    "FaultRule",
    "IdentityConfig",
    "Latency",
    "LogFileError",
    "RunningEmulator",
    "SendRecord",
    "SenderBehaviour",
    "SesEmulator",
    "StatusRecord",
    "TemplateConfig",
    "World",
    "WorldFileError",
    "build_app",
    "emulator_pair",
    "load_world",
    "permissive_credentials",
    "permissive_world",
    "quota_for_level",
    "run_emulator",
    "world_from_dict",
]
