"""``restyle web``: the command that serves the local web app (:mod:`restyle.web`); registered by ``restyle.cli``."""

from __future__ import annotations

import time
from pathlib import Path

import typer


def web_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; another than this machine's only "
                             "when asked (with a warning)."),
    port: int = typer.Option(7860, "--port", help="Port to listen on."),
    data_dir: Path = typer.Option(Path.home() / ".local" / "share" / "restyle" / "web", "--data-dir",
                                  envvar="RESTYLE_WEB_DATA", help="Where jobs, uploads and results live."),
    share: bool = typer.Option(False, "--share", help="Also open a public Gradio share link (off by default)."),
) -> None:
    """A local web app: upload an asset and styles, watch it change, turn the result around in 3D, download it."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"restyle web: warning: listening on {host}: other machines on the network can use this app",
                   err=True)
    from restyle.web.app import launch

    _, web, url = launch(data_dir, host=host, port=port, share=share, block=False)
    typer.echo(f"restyle web: {url} (jobs in {data_dir}; Ctrl-C to stop)")
    try:
        while True:  # the server runs in its own threads; Ctrl-C ends the app, running jobs write a checkpoint
            time.sleep(3600)
    finally:
        web.runner.shutdown()
