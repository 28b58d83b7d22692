"""Typer commands for projects, releases and re-identification (registered by ``veil.cli``).

Thin, like the rest of the CLI: each command parses its options, calls :mod:`veil.project`,
:mod:`veil.release.create` or :mod:`veil.identity.vault`, and renders the result as a rich table or, with
``--json``, as one JSON document on stdout. Exit codes scripts can trust: 0 ok, 1 refused or a failed
check (release refused by the gate, tampered release, re-identification denied), 2 usage or
configuration error, 3 fatal error.

Passphrases are never taken from the command line (it is visible to other users and recorded in the
audit log): they are read from an environment variable named by ``--passphrase-env`` or prompted for.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veil.errors import VeilError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_FATAL = 0, 1, 2, 3
#: `release check`: the files are intact but the project withdrew the release (recipients must delete it).
EXIT_WITHDRAWN = 4
PASSPHRASE_ENV = "VEIL_CUSTODIAN_PASSPHRASE"

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

release_app = typer.Typer(
    help=(
        "Publish de-identified data by access tier, behind a verification and risk gate.\n\n"
        "Examples:\n\n"
        "  veil release create incoming/ --tier controlled --purpose \"IRB-2026-114 cohort\"\n\n"
        "  veil release list\n\n"
        "  veil release check 3\n\n"
        "  veil release withdraw 3 --reason \"policy kept StationName\""
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-P", help="Project folder (default: $VEIL_PROJECT, then the nearest parent folder "
                 "holding veil-project.yaml)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _fail(msg: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(msg)}", highlight=False)
    raise typer.Exit(code)


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True, default=str) + "\n")
    sys.stdout.flush()


def _open(project: Path | None) -> Any:
    from veil.project import ProjectError, load_project
    from veil.release.store import StoreError

    try:
        proj = load_project(project)
        proj.db()
        return proj
    except ProjectError as exc:
        _fail(str(exc))
    except StoreError as exc:
        _fail(str(exc), EXIT_FATAL)


def _number(text: str) -> int:
    from veil.release.history import HistoryError, parse_number

    try:
        return parse_number(text)
    except HistoryError as exc:
        _fail(str(exc))


# --- init-project ------------------------------------------------------------------------------------


def init_project_command(
    path: Annotated[Path, typer.Argument(help="Folder to create the project in (created if missing).")],
    name: Annotated[str | None, typer.Option(help="Project name (default: the folder name).")] = None,
    store: Annotated[
        str | None, typer.Option(help="'sqlite' (default, embedded) or a postgresql:// URL shared between machines.")
    ] = None,
    custodian_key_file: Annotated[
        Path | None, typer.Option(help="Create a custodian key file here (keep it away from the project).")
    ] = None,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Environment variable holding a custodian passphrase (>= 12 characters).")
    ] = None,
    prompt_passphrase: Annotated[
        bool, typer.Option("--prompt-passphrase", help="Ask for a custodian passphrase on the terminal.")
    ] = False,
    no_vault: Annotated[
        bool, typer.Option("--no-vault", help="Create no identity vault (tiers that write one will refuse).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a project: tiers and their policies, secret, signing key, store, audit log and identity vault.

    The identity vault's private key is wrapped under at least one custodian credential: a key file
    (written where --custodian-key-file says, never inside the project) and/or a passphrase (from the
    variable named by --passphrase-env, or prompted). Without one, pass --no-vault.

    Examples:

      veil init-project study-42 --custodian-key-file /media/custodian/study-42.key

      VEIL_CUSTODIAN_PASSPHRASE=... veil init-project study-42 --passphrase-env VEIL_CUSTODIAN_PASSPHRASE

      veil init-project study-42 --store postgresql://veil@db.example.org/veil --prompt-passphrase
    """
    from veil.identity.vault import Credential, VaultError, create_custodian_key_file
    from veil.project import ProjectError, init_project
    from veil.release.store import StoreError, redact_url

    creds: list[Credential] = []
    try:
        if custodian_key_file is not None:
            kf = custodian_key_file.resolve()
            if kf.is_relative_to(path.resolve()):
                _fail("the custodian key file must not be inside the project: whoever can read the project could "
                      "then open the vault")
            create_custodian_key_file(kf)
            creds.append(Credential(key_file=kf))
        if passphrase_env:
            value = os.environ.get(passphrase_env)
            if not value:
                _fail(f"${passphrase_env} is not set")
            creds.append(Credential(passphrase=value))
        if prompt_passphrase:
            import getpass

            first = getpass.getpass("custodian passphrase: ")
            if first != getpass.getpass("repeat: "):
                _fail("the passphrases differ")
            creds.append(Credential(passphrase=first))
    except VaultError as exc:
        _fail(str(exc))
    if not creds and not no_vault:
        _fail("give a custodian credential (--custodian-key-file, --passphrase-env or --prompt-passphrase), or "
              "--no-vault for a project without an identity vault")
    try:
        proj = init_project(path, name=name, store_url=store, custodians=creds)
    except (ProjectError, VaultError, VeilError) as exc:
        code = EXIT_FATAL if isinstance(exc, StoreError) else EXIT_USAGE
        _fail(str(exc), code)
    from veil.release.sign import fingerprint

    info = {"project": str(proj.root), "name": proj.name, "store": redact_url(proj.store_url),
            "tiers": sorted(proj.tiers), "vault_custodians": len(creds),
            "signing_key": fingerprint(proj.signing_pub_path.read_bytes()),
            "custodian_key_file": str(custodian_key_file) if custodian_key_file else None}
    proj.close()
    if as_json:
        _emit_json(info)
        return
    t = Table(title=f"veil project {proj.name}", show_header=False)
    for k, v in info.items():
        t.add_row(k, ", ".join(v) if isinstance(v, list) else str(v))
    out.print(t)
    out.print("publish with:  veil release create INPUT --tier controlled --purpose \"...\"")


# --- release create ----------------------------------------------------------------------------------


@release_app.command("create")
def release_create(
    inputs: Annotated[Path, typer.Argument(help="Folder, DICOM file or archive to release.")],
    tier: Annotated[str, typer.Option("--tier", "-t", help="Access tier from the project config.")],
    purpose: Annotated[str, typer.Option(help="Why this release is made (on the terms and in the audit log).")],
    reissue_of: Annotated[
        str | None, typer.Option(help="Release this one replaces (e.g. after withdrawing it for a policy bug).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0 = all usable cores).")] = 0,
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="Findings shown in the table (all are in --json and FINDINGS.json).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """De-identify INPUTS with the tier's policy into a new numbered release, and publish it only if it passes.

    The output is checked with `veil verify` against the input (every identifier of the input is searched
    for) and its re-identification risk is held to the tier's thresholds. A release that fails either
    stays in failed/NNNN with FINDINGS.json and is not published (exit 1). A published release gets a
    signed RELEASE.json listing every file, the policy, risk figures and the data-use terms (TERMS.md,
    TERMS.pdf); tiers with `vault: true` also record original <-> pseudonym in the identity vault.

    Exit codes: 0 published, 1 refused by the gate, 2 usage/config error, 3 fatal error.

    Examples:

      veil release create incoming/ --tier controlled --purpose "IRB-2026-114 cohort"

      veil release create incoming/ --tier controlled --purpose "fixed policy" --reissue-of 3 --json
    """
    from veil.project import ProjectError
    from veil.release.create import ReleaseError, create_release
    from veil.release.history import HistoryError

    proj = _open(project)
    from veil.pipeline.pool import resolve_workers

    n_workers = resolve_workers(workers)
    try:
        outcome = create_release(proj, tier, inputs, purpose=purpose, workers=n_workers,
                                 reissue_of=_number(reissue_of) if reissue_of else None)
    except (ReleaseError, HistoryError, ProjectError) as exc:
        _fail(str(exc))
    except VeilError as exc:
        _fail(str(exc), EXIT_FATAL)
    finally:
        proj.close()
    code = EXIT_OK if outcome.published else EXIT_REFUSED
    if as_json:
        _emit_json(outcome.as_dict())
        raise typer.Exit(code)
    c = outcome.counts
    t = Table(title=f"release {outcome.id}  tier {outcome.tier}  policy {outcome.policy_name} "
                    f"({outcome.policy_hash[:12]})")
    for col in ("files in", "written", "quarantined", "withheld", "patients", "verify", "risk", "vault entries"):
        t.add_column(col, justify="right")
    t.add_row(str(c["files_in"]), str(c["written"]), str(c["quarantined"]), str(c["withheld"]), str(c["patients"]),
              "ok" if outcome.verify["ok"] else f"{outcome.verify['findings']} findings", outcome.risk.status,
              str(outcome.vault_entries))
    out.print(t)
    if outcome.risk.detail:
        out.print(f"risk: {escape(str(outcome.risk.detail))}", highlight=False)
    for w in outcome.warnings:
        out.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    if outcome.findings:
        ft = Table(title=f"findings (first {min(limit, len(outcome.findings))} of {len(outcome.findings)}, "
                         "evidence masked)")
        for col in ("file", "location", "category", "evidence"):
            ft.add_column(col, overflow="fold")
        for f in outcome.findings[:limit]:
            ft.add_row(*(escape(str(f[k])) for k in ("file", "location", "category", "evidence")))
        out.print(ft)
    if outcome.published:
        out.print(f"[green]published[/] {outcome.id} -> {escape(str(outcome.folder))}  (manifest sha256 "
                  f"{outcome.manifest_sha256[:16]}..., audit head {outcome.audit_head[:16]}...)", highlight=False)
    else:
        out.print(f"[red]refused[/] {outcome.id}: " + escape("; ".join(outcome.reasons)), highlight=False)
        out.print(f"findings and files kept for review in {escape(str(outcome.folder))}", highlight=False)
    raise typer.Exit(code)


# --- list / show -------------------------------------------------------------------------------------


@release_app.command("list")
def release_list(
    project: ProjectOpt = None,
    state: Annotated[str | None, typer.Option(help="Only this state: published, failed, withdrawn, building.")] = None,
    tier: Annotated[str | None, typer.Option(help="Only this tier.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List every release attempt of the project: number, state, tier, policy, date, purpose.

    Examples:

      veil release list

      veil release list --state withdrawn --json
    """
    from veil.release.history import STATES, list_releases, release_id

    if state is not None and state not in STATES:
        _fail(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    proj = _open(project)
    try:
        rows = list_releases(proj.db(), state=state, tier=tier)
    finally:
        proj.close()
    if as_json:
        _emit_json([r.as_dict() for r in rows])
        return
    t = Table(title=f"releases of {proj.name}")
    for col in ("release", "state", "tier", "policy", "files", "created (UTC)", "by", "purpose", "note"):
        t.add_column(col, overflow="fold")
    colour = {"published": "green", "failed": "red", "withdrawn": "yellow", "building": "blue"}
    for r in rows:
        note = ""
        if r.reissue_of:
            note = f"re-issue of {release_id(r.reissue_of)}"
        if r.state == "withdrawn":
            note = (note + "; " if note else "") + f"withdrawn: {r.withdrawn_reason}"
        elif r.state == "failed":
            note = r.reason
        t.add_row(r.id, f"[{colour.get(r.state, 'white')}]{r.state}[/]", r.tier,
                  escape(f"{r.policy_name} {r.policy_hash[:10]}"), str(r.files), r.created, escape(str(r.created_by)),
                  escape(str(r.purpose)), escape(str(note)))
    out.print(t)


@release_app.command("show")
def release_show(
    release: Annotated[str, typer.Argument(help="Release number (7 or R0007).")],
    project: ProjectOpt = None,
    limit: Annotated[int, typer.Option(help="Findings shown for a refused release.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Show one release: register entry, manifest summary (policy, counts, verify, risk, vault), findings.

    Examples:

      veil release show 3

      veil release show R0004 --json
    """
    from veil.release.history import HistoryError, get, reissues

    number = _number(release)
    proj = _open(project)
    try:
        rec = get(proj.db(), number)
        later = [r.id for r in reissues(proj.db(), number)]
    except HistoryError as exc:
        proj.close()
        _fail(str(exc))
    proj.close()
    folder = proj.root / rec.folder if rec.folder else None
    doc: dict[str, Any] = {}
    for name in ("RELEASE.json", "FINDINGS.json"):
        if folder is not None and (folder / name).is_file():
            doc = json.loads((folder / name).read_bytes())
            break
    data = rec.as_dict() | {"reissued_as": later, "document": doc}
    if as_json:
        _emit_json(data)
        return
    t = Table(title=f"release {rec.id}", show_header=False)
    t.add_column("field")
    t.add_column("value", overflow="fold")
    for k in ("state", "tier", "purpose", "created", "created_by", "policy_name", "policy_hash", "files", "folder",
              "manifest_sha256"):
        t.add_row(k, str(getattr(rec, k)))
    if rec.reissue_of:
        t.add_row("re-issue of", f"R{rec.reissue_of:04d}")
    if later:
        t.add_row("re-issued as", ", ".join(later))
    if rec.state == "withdrawn":
        t.add_row("withdrawn", escape(f"{rec.withdrawn_at} by {rec.withdrawn_by}: {rec.withdrawn_reason}"))
    if rec.state == "failed":
        t.add_row("refused because", escape(str(rec.reason)))
    if doc:
        t.add_row("verify", json.dumps({k: doc.get("verify", {}).get(k) for k in ("ok", "files", "findings")}))
        risk = doc.get("risk", {})
        t.add_row("risk", f"{risk.get('status')}: {risk.get('detail', '')}")
        if "vault" in doc:
            t.add_row("vault", f"{doc['vault'].get('entries', 0)} entries")
        if "deidentification_level" in doc:
            t.add_row("level", doc["deidentification_level"])
    out.print(t)
    findings = doc.get("findings", []) if rec.state == "failed" else []
    if findings:
        ft = Table(title=f"findings (first {min(limit, len(findings))} of {len(findings)})")
        for col in ("file", "location", "category", "evidence"):
            ft.add_column(col, overflow="fold")
        for f in findings[:limit]:
            ft.add_row(*(escape(str(f[k])) for k in ("file", "location", "category", "evidence")))
        out.print(ft)


# --- withdraw ----------------------------------------------------------------------------------------


@release_app.command("withdraw")
def release_withdraw(
    release: Annotated[str, typer.Argument(help="Release number (7 or R0007).")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the register and the audit log; recipients are told).")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a published release, e.g. after a policy bug. Its files stay (read-only) as evidence and
    for reproduction; re-issue a corrected one with `veil release create ... --reissue-of N`.

    Examples:

      veil release withdraw 3 --reason "policy kept StationName"
    """
    from veil.release.create import withdraw_release
    from veil.release.history import HistoryError

    number = _number(release)
    proj = _open(project)
    try:
        rec = withdraw_release(proj, number, reason=reason)
    except HistoryError as exc:
        _fail(str(exc), EXIT_REFUSED if "only a published" in str(exc) else EXIT_USAGE)
    finally:
        proj.close()
    if as_json:
        _emit_json(rec.as_dict())
        return
    out.print(f"[yellow]withdrawn[/] {rec.id} ({rec.tier}): {escape(str(rec.withdrawn_reason))}", highlight=False)
    out.print(f"re-issue with:  veil release create INPUT --tier {rec.tier} --purpose \"...\" "
              f"--reissue-of {rec.number}")


# --- check -------------------------------------------------------------------------------------------


@release_app.command("check")
def release_check(
    release: Annotated[str, typer.Argument(help="Release number of the project, or a release folder (as received).")],
    public_key: Annotated[
        Path | None, typer.Option(help="Public key to trust (PEM), e.g. one obtained from the project out of band.")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a release's signature and the SHA-256 of every file it lists; report changed, missing and
    added files. Works on a project's release (by number) and on a folder a recipient received.

    Exit codes: 0 intact, 1 tampered or unsigned, 2 usage error, 4 intact but withdrawn by the project
    (a script that gates on exit 0 never uses a withdrawn release).

    Examples:

      veil release check 3

      veil release check /data/received/R0003 --public-key project-signing.pub
    """
    from veil.release.history import HistoryError, get
    from veil.release.manifest import check

    folder = Path(release)
    key_pem: bytes | None = None
    source = ""
    status = None
    if public_key is not None:
        if not public_key.is_file():
            _fail(f"{public_key}: no such file")
        key_pem, source = public_key.read_bytes(), str(public_key)
    if folder.is_dir():
        if key_pem is None:
            try:
                from veil.project import load_project

                proj = load_project(project)
                if folder.resolve().is_relative_to(proj.root):
                    key_pem, source = proj.signing_pub_path.read_bytes(), "the project's signing key"
            except VeilError:
                pass
    else:
        number = _number(release)
        proj = _open(project)
        try:
            rec = get(proj.db(), number)
        except HistoryError as exc:
            proj.close()
            _fail(str(exc))
        proj.close()
        if rec.state not in ("published", "withdrawn"):
            _fail(f"release {rec.id} is {rec.state}: it was never published", EXIT_REFUSED)
        folder = proj.root / rec.folder
        status = rec.state
        if key_pem is None:
            key_pem, source = proj.signing_pub_path.read_bytes(), "the project's signing key"
    res = check(folder, key_pem, source)
    code = EXIT_REFUSED if not res.ok else EXIT_WITHDRAWN if status == "withdrawn" else EXIT_OK
    if as_json:
        _emit_json(res.as_dict() | {"state": status})
        raise typer.Exit(code)
    out.print(f"{escape(str(folder))}: signature {'[green]valid[/]' if res.signature_ok else '[red]INVALID[/]'} "
              f"(key {res.key}, {res.key_source}); {res.files_checked} files checked", highlight=False)
    for p in res.problems:
        out.print(f"[red]{escape(p)}[/]", highlight=False)
    if status == "withdrawn":
        out.print("[yellow]this release has been WITHDRAWN: recipients must delete it[/]")
    out.print("[green]intact[/]" if res.ok else "[red]tampered or damaged: do not use[/]")
    raise typer.Exit(code)


# --- reproduce ---------------------------------------------------------------------------------------


@release_app.command("reproduce")
def release_reproduce(
    release: Annotated[str, typer.Argument(help="Release number (7 or R0007).")],
    inputs: Annotated[Path, typer.Argument(help="The same input the release was made from.")],
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes (0 = all usable cores).")] = 0,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-run an old release with its own POLICY.yaml and the project secret, and compare every data file
    byte for byte with its signed manifest (same input + policy + secret => same bytes).

    Exit codes: 0 identical, 1 different, 2 usage error.

    Example:  veil release reproduce 3 incoming/
    """
    from veil.release.create import ReleaseError, reproduce
    from veil.release.history import HistoryError

    number = _number(release)
    proj = _open(project)
    try:
        from veil.pipeline.pool import resolve_workers

        res = reproduce(proj, number, inputs, workers=resolve_workers(workers))
    except (ReleaseError, HistoryError) as exc:
        _fail(str(exc))
    finally:
        proj.close()
    code = EXIT_OK if res.identical else EXIT_REFUSED
    if as_json:
        _emit_json(res.as_dict())
        raise typer.Exit(code)
    if res.identical:
        out.print(f"[green]identical[/]: {res.files_compared} files of {res.release} reproduced byte for byte")
    else:
        out.print(f"[red]different[/]: {len(res.differences)} difference(s) from {res.release}")
        for d in res.differences[:30]:
            out.print(f"  {escape(str(d))}", highlight=False)
    raise typer.Exit(code)


# --- reidentify --------------------------------------------------------------------------------------


def reidentify(
    pseudonym: Annotated[str, typer.Option(help="Patient pseudonym (e.g. VEIL7K2...) or a pseudo UID (2.25...).")],
    reason: Annotated[str, typer.Option(help="Why re-identification is needed (mandatory; goes into the audit log).")],
    requested_by: Annotated[
        str | None, typer.Option(help="Who asked for it (default: the user running the command).")
    ] = None,
    custodian_key_file: Annotated[Path | None, typer.Option(help="The custodian key file.")] = None,
    passphrase_env: Annotated[
        str | None, typer.Option(help=f"Environment variable holding the custodian passphrase ({PASSPHRASE_ENV} "
                                 "is used when set).")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Look up what a pseudonym stands for in the identity vault. Custodians only.

    Needs the custodian key (key file, or passphrase from an environment variable or the terminal);
    without it nothing is decrypted and the attempt is logged. Every use, granted or denied, writes an
    audit entry with who asked, who ran it and why (never the original values).

    Exit codes: 0 found, 1 denied (no or wrong custodian key) or no entry, 2 usage error.

    Examples:

      veil reidentify --pseudonym VEIL7K2M9QX4PA --reason "incidental finding, ticket 4411" \\
          --requested-by "Dr. A. Jones" --custodian-key-file /media/custodian/study-42.key

      VEIL_CUSTODIAN_PASSPHRASE=... veil reidentify --pseudonym 2.25.1234... --reason "consent withdrawn" --json
    """
    from veil.identity.vault import Credential, Vault, VaultError, VaultLocked
    from veil.project import who

    if not reason.strip():
        _fail("--reason must say why re-identification is needed")
    proj = _open(project)
    asker = requested_by or who()
    err.print(escape(f"re-identification of {pseudonym} requested by {asker} (run by {who()}): {reason}"),
              highlight=False)

    def audit(action: str, matches: int, detail: str = "") -> str:
        return str(proj.audit(action, purpose=reason, counts={"matches": matches},
                              extra={"pseudonym": pseudonym, "requested_by": asker, "detail": detail}))

    cred: Credential | None = None
    env_name = passphrase_env or (PASSPHRASE_ENV if os.environ.get(PASSPHRASE_ENV) else None)
    if custodian_key_file is not None:
        cred = Credential(key_file=custodian_key_file)
    elif env_name:
        if not os.environ.get(env_name):
            audit("reidentify-denied", 0, f"${env_name} not set")
            proj.close()
            _fail(f"${env_name} is not set: no custodian passphrase", EXIT_REFUSED)
        cred = Credential(passphrase=os.environ[env_name])
    elif sys.stdin.isatty():
        import getpass

        cred = Credential(passphrase=getpass.getpass("custodian passphrase: "))
    if cred is None:
        audit("reidentify-denied", 0, "no custodian key")
        proj.close()
        _fail("re-identification needs the custodian key: --custodian-key-file, a passphrase in "
              f"${PASSPHRASE_ENV} (or --passphrase-env), or a terminal to type it", EXIT_REFUSED)
    try:
        vault = Vault.open(proj.db(), proj.secret())
        custodian = vault.unlock(cred)
        records = custodian.lookup(pseudonym)
    except VaultLocked as exc:
        audit("reidentify-denied", 0, str(exc))
        proj.close()
        _fail(f"denied: {exc}", EXIT_REFUSED)
    except VaultError as exc:
        audit("reidentify-failed", 0, str(exc))
        proj.close()
        _fail(str(exc), EXIT_FATAL if "tamper" in str(exc) or "damaged" in str(exc) else EXIT_USAGE)
    head = audit("reidentify", len(records), f"slot {custodian.slot_id[:8]}")
    proj.close()
    if as_json:
        _emit_json({"pseudonym": pseudonym, "requested_by": asker, "reason": reason, "audit_head": head,
                    "records": [r.as_dict() for r in records]})
        raise typer.Exit(EXIT_OK if records else EXIT_REFUSED)
    if not records:
        out.print(f"no vault entry for {pseudonym}", highlight=False)
        raise typer.Exit(EXIT_REFUSED)
    for r in records:
        t = Table(title=f"{r.kind} {r.pseudonym}  (release {f'R{r.release:04d}' if r.release else '-'})",
                  show_header=False)
        for k, v in r.original.items():
            t.add_row(k, json.dumps(v) if isinstance(v, dict) else str(v))
        out.print(t)
    out.print(f"recorded in the audit log (head {head[:16]}...)")


# --- audit export ------------------------------------------------------------------------------------


def audit_export(
    log: Annotated[
        Path | None, typer.Argument(help="Audit log or a folder holding .veil/audit.jsonl (default: the project's).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    force: Annotated[
        bool, typer.Option(help="Export even if the chain does not verify (marked in the output).")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Export the audit log for a reviewer (CSV or JSON), after verifying its hash chain.

    The chain is verified with the project secret first; a broken chain is not exported unless --force,
    and then every row says so. Entries never hold original identifiers, only pseudonyms, hashes and counts.

    Exit codes: 0 exported, 1 chain broken (nothing exported without --force), 2 usage error.

    Examples:

      veil audit export -o audit.csv

      veil audit export released/ --format json --project study-42
    """
    import csv
    import io

    from veil.audit import AuditError, read_entries, verify

    if fmt not in ("csv", "json"):
        _fail("--format must be csv or json")
    if log is None or project is not None:
        proj = _open(project)
        key = proj.audit_key()
        default = proj.audit_path
        proj.close()
    else:  # a deid output's own log needs no project: the secret it is keyed with (project.command_secret)
        from veil.errors import SecretError
        from veil.identity.keyed import Keyed
        from veil.project import command_secret

        try:
            key = Keyed(command_secret()).digest("audit-chain", "")
        except SecretError as exc:
            _fail(f"{exc} (the audit chain is keyed with the secret)")
            raise
        default = log
    path = default if log is None else (log / ".veil" / "audit.jsonl" if log.is_dir() else log)
    res = verify(path, key=key)
    if not res.ok and not force:
        for p in res.problems:
            err.print(f"[red]{escape(p)}[/]", highlight=False)
        _fail(f"{path}: the audit chain does not verify; nothing exported (use --force to export it marked)",
              EXIT_REFUSED)
    try:
        entries = read_entries(path)
    except AuditError as exc:
        _fail(str(exc), EXIT_REFUSED)
    buf = io.StringIO()
    if fmt == "json":
        json.dump({"log": str(path), "verified": res.ok, "problems": list(res.problems), "head": res.head,
                   "entries": entries}, buf, indent=2, ensure_ascii=False)
        buf.write("\n")
    else:
        cols = ["seq", "ts", "user", "host", "action", "purpose", "policy_hash", "counts", "extra", "command", "hash",
                "verified"]
        w = csv.writer(buf)
        w.writerow(cols)
        for e in entries:
            extra = dict(e.get("extra") or {})
            w.writerow([e.get("seq"), e.get("ts"), e.get("user"), e.get("host"), extra.pop("action", ""),
                        e.get("purpose"), e.get("policy_hash"), json.dumps(e.get("counts"), sort_keys=True),
                        json.dumps(extra, sort_keys=True, ensure_ascii=False), e.get("command"), e.get("hash"),
                        "yes" if res.ok else "NO"])
    if output is None:
        sys.stdout.write(buf.getvalue())
    else:
        output.write_text(buf.getvalue(), encoding="utf-8")
        err.print(f"{len(entries)} entries written to {escape(str(output))} (chain "
                  f"{'verified' if res.ok else 'BROKEN'})")
    raise typer.Exit(EXIT_OK if res.ok else EXIT_REFUSED)
