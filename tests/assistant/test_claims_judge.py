"""The independent judge of claims (hand labels against the code's verdicts), the evidence a
narration carries for every cited id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.claims.verify import EvidenceSet, ReviewEvidence, Verdict
from assistant.tools.narrate import Attempt, cited_evidence
from benchmarks import claims_judge

EV = EvidenceSet(facts={"purchases": 3, "reviews_written": 5},
                 reviews={"r1": ReviewEvidence("r1", "Great strings, stay in tune.", 5.0,
                                               "2013-05-02", "B001", "Elixir Strings")})


def test_cited_evidence_expands_every_known_id_of_every_attempt() -> None:
    attempts = [Attempt("a", [Verdict("3 purchases", "fact", ["F:purchases"], True)]),
                Attempt("b", [Verdict("x", "review", ["R:r1", "F:nope"], False, ["unknown"])])]
    evidence = cited_evidence(attempts, EV)
    assert set(evidence) == {"F:purchases", "R:r1"}  # an unknown id stands for nothing
    assert evidence["F:purchases"]["value"] == "3"
    assert "stay in tune" in evidence["R:r1"]["snippet"]


def _report() -> dict:
    claims = [{"text": "The customer made 3 purchases.", "kind": "fact",
               "evidence": ["F:purchases"], "verified": True, "reasons": []},
              {"text": "The customer made 5 purchases.", "kind": "fact",
               "evidence": ["F:reviews_written"], "verified": False, "reasons": ["measure"]},
              {"text": "The customer loves Fender.", "kind": "fact",
               "evidence": ["F:purchases"], "verified": True, "reasons": []},
              {"text": "A review praises the strings.", "kind": "review",
               "evidence": ["R:r1"], "verified": True, "reasons": []}]
    evidence = {"F:purchases": {"kind": "fact", "label": "purchases", "value": "3"},
                "F:reviews_written": {"kind": "fact", "label": "reviews written", "value": "5"},
                "R:r1": {"kind": "review", "label": "review of Elixir", "snippet": "Great."}}
    record = {"tool": "summary", "source": "mi", "user_id": "u1", "evidence": evidence,
              "attempts": [{"claims": claims}]}
    return {"records": [record]}


def test_sheet_hides_the_verdict_and_keeps_given_labels(tmp_path: Path) -> None:
    report, labels = tmp_path / "r.json", tmp_path / "labels.jsonl"
    report.write_text(json.dumps(_report()))
    assert claims_judge.write_sheet(report, labels) == 4
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert all("verified" not in r and "reasons" not in r for r in rows)
    assert rows[1]["evidence"] == {"F:reviews_written": "reviews written = 5"}
    rows[0].update(label="supported", reason="3 is the purchases fact")
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert claims_judge.write_sheet(report, labels) == 0  # idempotent, labels kept
    assert claims_judge.read_labels(labels)[rows[0]["key"]]["label"] == "supported"


def test_score_sets_the_judge_beside_the_code(tmp_path: Path) -> None:
    report, labels, out = tmp_path / "r.json", tmp_path / "l.jsonl", tmp_path / "j.json"
    report.write_text(json.dumps(_report()))
    claims_judge.write_sheet(report, labels)
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    verdicts = ["supported", "unsupported", "unsupported", "supported"]
    for row, label in zip(rows, verdicts, strict=True):
        row.update(label=label, reason="read against the evidence")
    labels.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = claims_judge.score(report, labels, out)["all"]
    assert result["claims_labelled"] == 4 and result["code_verified"] == 3
    assert result["supported_share_of_verified"] == pytest.approx(2 / 3, abs=1e-3)
    pairs = result["code_vs_judge"]
    assert (pairs["verified_and_supported"], pairs["verified_not_supported"],
            pairs["refused_and_unsupported"]) == (2, 1, 1)
    assert pairs["agreement"] == 0.75
    # kappa: observed 0.75, expected 0.75 * 0.5 + 0.25 * 0.5 = 0.5 -> 0.5
    assert pairs["cohen_kappa"] == 0.5
    assert json.loads(out.read_text())["disagreements"][0]["text"].endswith("Fender.")


def test_a_label_outside_the_two_values_is_refused(tmp_path: Path) -> None:
    labels = tmp_path / "l.jsonl"
    labels.write_text(json.dumps({"key": "k", "label": "maybe", "reason": ""}) + "\n")
    with pytest.raises(ValueError, match="maybe"):
        claims_judge.read_labels(labels)


RATED = EvidenceSet(facts={"item_users": 57, "item_mean_rating": 4.47, "rank": 1,
                           "rating_scale": "1 to 5 stars"})


@pytest.mark.parametrize(("text", "evidence", "verified"), [
    ("The item has a mean rating of 4.47 out of 5 stars.", ["F:item_mean_rating"], True),
    ("The item has 57 users out of 5 stars.", ["F:item_users"], False),  # not a rating
    ("The item has a high number of users.", ["F:item_users"], False),
    ("The item is popular with 57 users.", ["F:item_users"], False),
    ("The item is popular: the model ranks it 1.", ["F:rank"], True),  # a comparison is cited
    ("The item has 57 users.", ["F:item_users"], True),
])
def test_scale_and_unmeasured_magnitudes(text: str, evidence: list[str], verified: bool) -> None:
    from assistant.claims.schema import ClaimDraft
    from assistant.claims.verify import verify_claim

    assert verify_claim(ClaimDraft(text, evidence, "fact"), RATED).verified is verified


LISTED = EvidenceSet(facts={"top_categories": "4756105 (3153), 3607361 (2620)",
                            "top_reviewed_items": "B0002CZUUG (1), B0002D0JZ6 (1), B0002D0LKY (1)",
                            "reviews_written": 18, "user_events_on_item": 0})


@pytest.mark.parametrize(("text", "evidence", "verified", "shown"), [
    # a numeric category id in a cited "name (count)" list is a name, not a count
    ("The top categories are 4756105 and 3607361.", ["F:top_categories"], True, None),
    # "three items" counts like "3 items": the list shows the top three, not the total
    ("The customer has reviewed three items: B0002CZUUG, B0002D0JZ6 and B0002D0LKY.",
     ["F:top_reviewed_items"], False, None),
    ("The customer has written twelve reviews.", ["F:reviews_written"], False, None),
    # the inference is cut, the stated fact kept and shown
    ("The customer has not interacted with this item, suggesting they have not used it.",
     ["F:user_events_on_item"], True, "The customer has not interacted with this item."),
])
def test_listed_names_spelled_counts_and_inferences(text: str, evidence: list[str],
                                                    verified: bool, shown: str | None) -> None:
    from assistant.claims.schema import ClaimDraft
    from assistant.claims.verify import verify_claim

    verdict = verify_claim(ClaimDraft(text, evidence, "fact"), LISTED)
    assert verdict.verified is verified, verdict.reasons
    if shown:
        assert verdict.text == shown
