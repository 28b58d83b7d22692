"""Re-identification risk of a release: measure it, and generalise to a target with the least loss.

One module per concept, all over the same equivalence-class table (STYLE.md, after ARX):

- :mod:`veil.risk.table` — the metadata table of a de-identified folder (one row per patient, study or
  series) from DICOM headers, with sensitive attributes joined from a CSV;
- :mod:`veil.risk.measures` — k, ℓ (distinct, entropy, recursive), t, prosecutor/journalist/marketer
  risk, sample and population uniqueness, each with its threshold;
- :mod:`veil.risk.hierarchy` — generalisation ladders (defaults and YAML);
- :mod:`veil.risk.search` — the optimal lattice node for k/ℓ/t/max-risk with suppression;
- :mod:`veil.risk.apply` — writes the chosen generalisation into the DICOM files, manifest and audit log;
- :mod:`veil.risk.linkage` — linkage attack against a registry, singling-out/linkability/inference.
"""
