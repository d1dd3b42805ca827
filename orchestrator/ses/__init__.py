"""The Tencent Cloud SES adapter: error classes, the SDK-backed Sender, and a local emulator."""
