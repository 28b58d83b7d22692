"""Header de-identification: the dataset walk and the PS3.15 actions D/Z/X/K/C/U."""

from veil.header.engine import Outcome, deidentify, patient_key

__all__ = ["Outcome", "deidentify", "patient_key"]
