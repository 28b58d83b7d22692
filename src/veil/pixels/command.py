"""`veil review OUT`: the redaction review page for a de-identified folder (registered by veil.cli)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

EXIT_OK, EXIT_QUARANTINED, EXIT_USAGE = 0, 1, 2


def review(
    output_dir: Annotated[Path, typer.Argument(help="De-identified folder written by `veil deid`.")],
    against: Annotated[
        Path | None, typer.Option("--against", help="The input it came from, for the 'before' pictures.")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(help="Project secret, to pair outputs with inputs (default: $VEIL_SECRET, "
                                       "then .veil/secret.key).")
    ] = None,
    html: Annotated[Path, typer.Option(help="Where to write the page (keep it out of releases).")] = Path(
        "veil-review.html"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Write an HTML page with before/after thumbnails of every image whose pixels changed or were quarantined.

    Boxes are drawn on both pictures (red: rule regions, orange: OCR), with why the image got a pixel
    pass, how many pixels changed, and the verification result, so a data steward can check the
    redaction at a glance. The page shows original pixels: it is written outside OUTPUT_DIR by default.

    Exit codes: 0 page written and nothing quarantined, 1 page written and some images quarantined
    (look at them), 2 usage error (not a Veil output folder, unreadable secret).

    Examples:

      veil review released/ --against incoming/ --html review.html

      veil review released/ --json
    """
    from veil.errors import SecretError
    from veil.pixels.review import build, load_records, pair_inputs, summary
    from veil.report.review_page import write

    if not output_dir.is_dir() or not (output_dir / ".veil").is_dir():
        typer.echo(f"error: {output_dir} is not a folder written by veil deid (no .veil/ inside)", err=True)
        raise typer.Exit(EXIT_USAGE)
    if against is not None and not against.exists():
        typer.echo(f"error: {against}: no such file or folder", err=True)
        raise typer.Exit(EXIT_USAGE)
    inputs: dict[str, Path] = {}
    if against is not None:
        from veil.identity.keyed import Keyed
        from veil.pipeline.instance import keyed_file_hash
        from veil.project import command_secret

        try:
            keyed = Keyed(command_secret(key_file))
        except SecretError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
        hashes = {str(r.get("input_hash")) for r in load_records(output_dir)[0]}
        inputs = pair_inputs(against, hashes, lambda p: keyed_file_hash(p, keyed))
    rev = build(output_dir, inputs)
    write(rev, html)
    code = EXIT_QUARANTINED if rev.counts().get("quarantined") else EXIT_OK
    if as_json:
        typer.echo(json.dumps(summary(rev) | {"html": str(html)}))
    else:
        c = rev.counts()
        typer.echo(f"review: {html} ({len(rev.items)} image(s): {c.get('redacted', 0)} redacted, "
                   f"{c.get('quarantined', 0)} quarantined)")
    raise typer.Exit(code)
