"""Radiotherapy structure and beam names are kept in RT labels; people's names in them still go.

Red team rt3 (research-longitudinal cleans ROI and Beam Names, PS3.15 E.3.4): 11 of 65 ROI names lost words to
[NAME] ("SpinalCord", "Carina", "Vena_Cava" -> "[NAME]_[NAME]", "Temporal_Lobe_L" -> "Temporal_[NAME]_L"),
beam names "Med Tang" and "Mantle" did, the site of "BELINDA Q H&N" went with the name ("[NAME]&N") and the
device of "QUIXANDOR MASK" with the patient's ("[NAME]"). The names are AAPM TG-263's (2018).
"""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from veil.text.clean import clean_text
from veil.text.known import KnownIdentifiers, collect_identifiers
from veil.text.names import find_names
from veil.text.vocabulary import lexicon

NONE = KnownIdentifiers(())


def _known() -> KnownIdentifiers:
    ds = Dataset()
    ds.PatientName = "QUIXANDOR^BELINDA"
    ds.PatientID = "PX9137246"
    ds.PatientBirthDate = "19470513"
    ds.ReferringPhysicianName = "VRANDLEBY^ZEBULON"
    ds.InstitutionName = "Harrowgate General"
    return collect_identifiers(ds)


KNOWN = _known()

#: The red team's ROI and beam names that lost words, and their other clinical ones.
RED_TEAM_ROIS = [
    "SpinalCord", "Carina", "Chestwall", "SeminalVes", "Couch Surface", "OpticNerve_R", "BrachialPlex_L",
    "Cauda_Equina", "Vena_Cava", "Temporal_Lobe_L", "Glnd_Submand_L",
    "GTV_lung", "CTV_High", "Brainstem_PRV", "Parotid_L", "Femur_Head_R", "Bowel_Bag", "Rectum", "Bladder",
    "PTV_Boost", "Lens_L", "Cochlea_L", "Chiasm", "Esophagus", "Larynx", "Mandible", "Hippocampus_R", "Kidney_L",
    "Liver", "Stomach", "Duodenum", "Heart", "A_LAD", "Pacemaker", "External", "BODY", "z_ring", "opt_PTV",
    "Marker_1", "Gold_Seed", "Penile_Bulb", "Vagina", "Urethra", "Sigmoid", "Lung_L-GTV", "Breast_R", "Thyroid",
    "Pituitary", "Cerebellum", "Bone_Mandible", "Oral_Cavity", "Lips", "Trachea", "Aorta", "Pericardium",
    "Ribs", "Humerus_L", "Spleen", "Pancreas", "Prostate", "Bolus 1cm", "PRV5_Cord", "CTV_Nodes", "GTVp",
    "GTVn_Level2",
]
RED_TEAM_BEAMS = ["Med Tang", "Lat Tang", "Mantle", "LAO 30", "RAO", "G0", "G180 C90", "VMAT CW", "Arc1 CCW",
                  "Tangent Med", "Boost Post", "SCV", "Field 1", "Setup AP", "Setup LAT", "Axilla", "IMN",
                  "Whole Brain", "Vertex", "PA Spine",
                  # with energies, angles and field-in-field segments
                  "Med Tang 6X", "RAO Tang 15X FiF", "Lat Tang FIF", "MedTang_6X", "Tang_M_FIF", "Mantle PA 6FFF",
                  "Lat Tang EDW60", "LtTang", "SCV/PAB", "Inverted Y"]

#: AAPM TG-263 structure names (written from the report, 2018): organs at risk with laterality, targets and
#: planning structures - 150+ of them, L and R where the report has both.
TG263 = [
    "A_Aorta", "A_Aorta_Asc", "A_Aorta_Desc", "A_Brachiocephls", "A_Carotid_L", "A_Carotid_R", "A_Celiac",
    "A_Coronary_L", "A_Femoral_R", "A_Iliac_L", "A_LAD", "A_Mesenteric_S", "A_Mesenteric_I", "A_Pulmonary",
    "A_Subclavian_L", "A_Vertebral_R", "Acetabulum_L", "Adrenal_R", "Anus", "Atrium_L", "Bag_Bowel", "Bladder",
    "BileDuct_Common", "Bone", "Bone_Hyoid", "Bone_Mandible", "Bone_Pelvic", "Bone_Temporal_L", "Bone_Ilium_R",
    "Bowel", "Bowel_Bag", "Bowel_Large", "Bowel_Small", "BrachialPlex_L", "BrachialPlex_R", "BrachialPlexs",
    "Brain", "Brainstem", "Brainstem_Core", "Brainstem_Surf", "Breast_L", "Breast_R", "Bronchus", "Bronchus_L",
    "Canal_Anal", "Carina", "Cartlg_Thyroid", "CaudaEquina", "Cauda_Equina", "Cavity_Nasal", "Cavity_Oral",
    "Cerebellum", "Cerebrum", "Cervix", "Chestwall", "Chestwall_L", "Cochlea_L", "Cochlea_R", "Colon",
    "Colon_Sigmoid", "Colon_Transverse", "Cornea_R", "Duodenum", "Ear_Internal_L", "Ear_Middle_R", "Esophagus",
    "Esophagus_S", "Esophagus_I", "Eye_L", "Eye_R", "Eyes", "Femur_L", "Femur_Head_L", "Femur_Head_R",
    "Femur_Neck_L", "Femurs", "Gallbladder", "Genitals", "Glnd_Lacrimal_L", "Glnd_Lacrimal_R", "Glnd_Submand_L",
    "Glnd_Submand_R", "Glnd_Thyroid", "Glottis", "GreatVes", "Heart", "Hippocampus_L", "Hippocampus_R",
    "Humerus_R", "Hypothalmus", "Ileum", "Jejunum", "Joint_TM_L", "Kidney_L", "Kidney_R", "Kidneys",
    "Kidney_Cortex_L", "Larynx", "Larynx_SG", "Lens_L", "Lens_R", "Lips", "Liver", "Lobe_Temporal_L",
    "Lobe_Temporal_R", "Lobe_Frontal", "Lung_L", "Lung_R", "Lungs", "Lung_LUL", "Lung_RML", "LN_Ax_L1_L",
    "LN_IMN_R", "LN_Neck_II_L", "LN_Neck_III_R", "LN_Pelvics", "LN_Paraaortic", "LN_Inguinofem_L", "Macula_L",
    "Mandible", "Maxilla", "Mediastinum", "Musc_Constrict", "Musc_Constrict_I", "Musc_Constrict_M",
    "Musc_Constrict_S", "Musc_Masseter_R", "Musc_Sclmast_L", "Nasopharynx", "OpticChiasm", "OpticNrv_L",
    "OpticNrv_R", "Oropharynx", "Ovary_L", "Pancreas", "Parotid_L", "Parotid_R", "Parotids", "PenileBulb",
    "Penis", "Pericardium", "Pharynx", "Pituitary", "Prostate", "ProstateBed", "Rectum", "Retina_L", "Ribs",
    "Ribs_R", "Sacrum", "Scalp", "SeminalVes", "Sinus_Maxillary_R", "Skin", "SpinalCanal", "SpinalCord",
    "SpinalCord_Cerv", "Spleen", "Sternum", "Stomach", "Testis_L", "Tongue", "Trachea", "Ureter_L", "Urethra",
    "Uterus", "Vagina", "Ventricle_R", "V_Azygos", "V_Portal", "V_Venacava_I", "V_Venacava_S", "VB_C1", "VB_C2",
    "VB_T12", "VB_L5", "Vulva",
    # targets and planning structures
    "GTV", "GTVp", "GTVn", "GTVn1", "CTV", "CTVp_5000", "CTV_Low", "ITV", "IGTV", "PTV", "PTV_High", "PTV_Mid",
    "PTV_Low", "PTV_Eval", "PTVp_7000", "PTV_5040", "PTV!_High", "Body", "External", "Couch", "CouchSurface",
    "CouchInterior", "Couch Surface", "Couch Interior", "Bolus", "Bolus_05mm", "z_Ring", "zPTV_opt", "PTV_Ring",
    "Shell", "opt_PTV", "avoid_Rectum", "SpinalCord_PRV05", "Brainstem_PRV03", "Artifact", "Fiducial_1",
    "Marker", "Seed_1", "Clips",
]


@pytest.mark.parametrize("value", RED_TEAM_ROIS + RED_TEAM_BEAMS)
def test_the_red_teams_roi_and_beam_names_are_kept(value):
    assert clean_text(value, KNOWN, rt=True) == (value, 0)
    assert clean_text(value, NONE, rt=True) == (value, 0)


def test_at_least_150_tg263_names_are_kept_as_typed_and_in_capitals():
    assert len(set(TG263)) >= 150
    for value in TG263:
        assert clean_text(value, KNOWN, rt=True) == (value, 0), value
        if "_" in value or " " in value:  # "SPINALCORD_PRV05"; a CamelCase word is listed whole too
            assert clean_text(value.upper(), KNOWN, rt=True) == (value.upper(), 0), value.upper()


@pytest.mark.parametrize(("value", "want"), [
    ("BELINDA Q H&N", "[NAME] H&N"),  # the site stays, the name and the initial go
    ("QUIXANDOR MASK", "[NAME] MASK"),
    ("Quixandor_Belinda", "[NAME]"),  # the patient's name joined by "_" is one known-identifier form
    ("Zelbert_Quixworth", "[NAME]_[NAME]"),
    ("QuixandorBelinda", "[NAME]"),
    ("Dr_Vrandleby", "Dr_[NAME]"),
    ("QUIXANDOR_PLAN1", "[NAME]_PLAN1"),
    ("PTV Quixandor", "PTV [NAME]"),
    ("Liver (contoured by Dr Jane Roe)", "Liver (contoured by Dr [NAME])"),
    # an RT word that is also a name is anatomy in a label that reads as a descriptor only
    ("Carina (contoured by Dr Jane Roe)", "[NAME] (contoured by Dr [NAME])"),
    ("Carina Smith", "[NAME]"),
    ("SpinalCord Dr Okafor", "SpinalCord Dr [NAME]"),
    ("Heart per Tang", "Heart per [NAME]"),
])
def test_the_patients_and_other_peoples_names_in_an_rt_label_still_go(value, want):
    assert clean_text(value, KNOWN, rt=True)[0] == want


@pytest.mark.parametrize(("value", "want"), [
    ("Carina called about the plan", "[NAME] called about the plan"),
    ("seen by Dr Tang", "seen by Dr [NAME]"),
    ("Discussed with Vena Smith", "Discussed with [NAME]"),
    ("JohnSmith", "[NAME]"),
    ("McQuixandor", "[NAME]"),
])
def test_rt_words_that_are_names_stay_names_outside_rt_labels(value, want):
    assert clean_text(value, NONE)[0] == want


@pytest.mark.parametrize("value", ["SpinalCord", "OpticNerve_R", "BrachialPlex_L", "Chestwall", "Cauda_Equina",
                                   "Glnd_Submand_L", "SeminalVes", "H&N"])
def test_tg263_words_that_are_no_names_are_clinical_in_any_text(value):
    """A CamelCase compound of clinical words is read by its parts; a TG-263 word in no name list is clinical."""
    assert find_names(f"Dose to {value} within tolerance") == []


def test_a_camelcase_word_is_split_only_into_clinical_parts():
    assert find_names("OpticNerve") == [] and find_names("NerveOptic") == []
    assert [s.end - s.start for s in find_names("QuixandorBelinda")] == [16]
    assert [s.end - s.start for s in find_names("BelindaChestwall")] == [16]  # a part is a name: not split


def test_the_list_is_shipped_and_its_names_are_no_vocabulary_of_the_known_matcher():
    from veil.text.vocabulary import clinical_vocabulary, rt_nomenclature

    words = rt_nomenclature()
    assert {"SPINALCORD", "BRACHIALPLEX", "SUBMAND", "CARINA", "VENA", "TANG", "MANTLE", "H&N"} <= words
    assert len(words) >= 300 and all(len(w) > 1 for w in words)
    lex = lexicon()
    assert {"CARINA", "VENA", "CAVA", "LOBE", "TANG", "MANTLE", "COUCH", "MASK"} <= lex.rt_words
    assert not lex.rt_words & lex.vocabulary
    assert {"SPINALCORD", "CHESTWALL", "SUBMAND", "GLND"} <= lex.vocabulary
    # the known-identifier matcher's vocabulary is unchanged: a patient named Mask or Tang is still matched
    assert clinical_vocabulary().isdisjoint({"MASK", "TANG", "CARINA", "SPINALCORD"})
