"""Command-line tools: ``mirrordb initdb``, ``mirrordb compare`` (later start/stop/basebackup...)."""
