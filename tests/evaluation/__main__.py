"""Score the framing checks on the evaluation set and print the table.

    python -m tests.evaluation                  # 320 PTO photos, 320 pairs (about 10 min)
    python -m tests.evaluation --labels 40 --pairs 40 --family development

CPU is time.process_time() around each call, in this one process (onnxruntime and OpenCV set
to one thread), so other programs on the machine do not count; the image is decoded before.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections import Counter

import cv2
import numpy as np
from PIL import Image

from tests.evaluation.dataset import FAMILIES, label_cases, pair_cases
from worker.findings.pto_label import LabelReader
from worker.findings.pto_reference import same_reference
from worker.findings.same_spot import compare_views, reduced_grey
from worker.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.evaluation")
    parser.add_argument("--labels", type=int, default=320)
    parser.add_argument("--pairs", type=int, default=320)
    parser.add_argument("--family", choices=sorted(FAMILIES), default="evaluation")
    parser.add_argument("--verbose", action="store_true", help="print each miss")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    family = FAMILIES[args.family]
    print(f"family {family.name}: {args.labels} PTO photos, {args.pairs} pairs")
    if args.labels:
        print("\n".join(score_labels(settings, family, args.labels, args.verbose)), flush=True)
    if args.pairs:
        print("\n".join(score_pairs(settings, family, args.pairs, args.verbose)), flush=True)


def score_labels(settings: Settings, family, count: int, verbose: bool) -> list[str]:
    reader = LabelReader(
        settings.pto_reference_pattern,
        min_confidence=settings.qa_pto_min_confidence,
        threads=settings.qa_ocr_threads,
    )
    reader.read(np.zeros((64, 64), np.uint8))  # the engine's loading is not a photo's cost
    tally: Counter[str] = Counter()
    cpu: list[float] = []
    by_method: Counter[str] = Counter()
    for case in label_cases(family, count):
        grey = np.asarray(Image.open(io.BytesIO(case.data)).convert("L"))
        start = time.process_time()
        reading = reader.read(grey)
        cpu.append(time.process_time() - start)
        tally["legible" if case.legible else "illegible"] += 1
        if reading is None:
            tally[f"none {case.legible}"] += 1
            if verbose and case.legible:
                print(f"  missed {case.seed} {case.reference} h={case.text_height:.0f}")
            continue
        by_method[reading.method] += 1
        if reading.text == case.reference:
            tally[f"exact {case.legible}"] += 1
        elif same_reference(reading.text, case.reference):
            tally[f"twin {case.legible}"] += 1
        else:
            tally["wrong"] += 1
            if verbose:
                print(f"  WRONG {case.seed} {case.reference} read {reading}")
    legible = tally["legible"]
    read = tally["exact True"] + tally["twin True"]
    return [
        "",
        "| PTO reference | figure |",
        "|---|---|",
        f"| photos (legible / illegible by construction) | {legible} / {tally['illegible']} |",
        f"| legible labels read (recall) | {read} ({_share(read, legible)}) |",
        f"| ... of which exactly as printed | {tally['exact True']} |",
        f"| ... of which with O/0, I/1, S/5, B/8 taken for its twin | {tally['twin True']} |",
        f"| wrong references read (differ beyond those twins), all photos | {tally['wrong']} |",
        f"| illegible labels read all the same (right) | "
        f"{tally['exact False'] + tally['twin False']} |",
        f"| read from a barcode / by OCR | {by_method['barcode']} / {by_method['ocr']} |",
        f"| CPU per photo, median / 90th percentile | {_ms(cpu, 50)} / {_ms(cpu, 90)} |",
    ]


def score_pairs(settings: Settings, family, count: int, verbose: bool) -> list[str]:
    threshold = settings.qa_same_spot_min_inliers
    flagged: Counter[str] = Counter()
    total: Counter[str] = Counter()
    cpu: list[float] = []
    inliers: dict[str, list[int]] = {"same": [], "different": [], "look-alike": []}
    for case in pair_cases(family, count):
        before = np.asarray(Image.open(io.BytesIO(case.before)).convert("L"))
        after = np.asarray(Image.open(io.BytesIO(case.after)).convert("L"))
        start = time.process_time()
        match = compare_views(reduced_grey(before), reduced_grey(after))
        cpu.append(time.process_time() - start)
        total[case.kind] += 1
        inliers[case.kind].append(match.inliers)
        if not match.same_spot(threshold):
            flagged[case.kind] += 1
            if verbose and case.same:
                print(f"  flagged same {case.seed}: {match.describe()}")
        elif verbose and not case.same:
            print(f"  missed {case.kind} {case.seed}: {match.describe()}")
    different = total["different"] + total["look-alike"]
    caught = flagged["different"] + flagged["look-alike"]
    precision = _share(caught, caught + flagged["same"])
    return [
        "",
        f"| same spot (threshold {threshold} agreeing points) | figure |",
        "|---|---|",
        f"| pairs: same spot / two places / two look-alike places | {total['same']} /"
        f" {total['different']} / {total['look-alike']} |",
        f"| not_same_spot on two-place pairs (recall) | {caught} of {different}"
        f" ({_share(caught, different)}) |",
        f"| ... of which look-alike cabinets | {flagged['look-alike']} of {total['look-alike']} |",
        f"| not_same_spot on same-spot pairs (false alarms) | {flagged['same']} of"
        f" {total['same']} ({_share(flagged['same'], total['same'])}) |",
        f"| precision of not_same_spot | {precision} |",
        "| agreeing points, median: same / two places / look-alike | "
        + " / ".join(str(_median(inliers[k])) for k in ("same", "different", "look-alike"))
        + " |",
        f"| agreeing points, lowest same / highest two places | {min(inliers['same'], default=0)}"
        f" / {max(inliers['different'] + inliers['look-alike'], default=0)} |",
        f"| CPU per pair (reduce both, compare), median / 90th percentile | {_ms(cpu, 50)} /"
        f" {_ms(cpu, 90)} |",
    ]


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def _median(values: list[int]) -> float:
    return statistics.median(values) if values else 0


def _ms(values: list[float], percentile: int) -> str:
    return f"{1000 * float(np.percentile(values, percentile)):.0f} ms" if values else "n/a"


if __name__ == "__main__":
    main()
