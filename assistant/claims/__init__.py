"""Claim-level generation: the model proposes claims, code verifies each one, prose is rendered.

* `schema`: what a claim is (text, evidence ids, kind), the per-request JSON schema the model
  answers in, and the tolerant parser of its answer (JSON, truncated JSON or tagged prose);
* `verify`: the rules a claim must pass on its own (ids, numbers bound to their measure,
  named things in the cited evidence, overlap with a cited review, nothing about a zero);
* `render`: verified claims as prose with numbered citations and the list of sources;
* `copy`: copy variants as a headline, claims and a call to action (schema and parser), and
  the schema of a repair answer;
* `named`: a short name plus claims (segment names and descriptions).
"""
