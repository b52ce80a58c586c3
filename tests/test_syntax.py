"""Every form of the extended sweep syntax (SPEC 1) with its exact runs, and
every error with its exact message (caret column included)."""

from __future__ import annotations

import pickle

import pytest

from hydraflow_core import SweepSyntaxError, count, expand


def runs(*overrides: str, **kwargs) -> list:
    return [" ".join(run) for run in expand(list(overrides), **kwargs)]


def values(override: str) -> list:
    """The values one override gives (the text after the first '=')."""
    return [run[0].split("=", 1)[1] for run in expand([override])]


# ---------------------------------------------------------------------------
# One override -> its values
# ---------------------------------------------------------------------------

VALUE_CASES = [
    # Ranges: inclusive stop, exact decimals (1.1)
    pytest.param("a=1:4", ["1", "2", "3", "4"], id="range-inclusive"),
    pytest.param("a=0:0.3:0.1", ["0.0", "0.1", "0.2", "0.3"], id="range-float-stop-at-zero-start"),
    pytest.param("a=0.1:0.3:0.1", ["0.1", "0.2", "0.3"], id="range-no-float-artefact"),
    pytest.param("a=0:1:0.5", ["0.0", "0.5", "1.0"], id="range-floats-all-written-as-floats"),
    # Types (1.1): an unscaled range is typed as written, as Hydra's range() is
    pytest.param("a=1.0:3.0", ["1.0", "2.0", "3.0"], id="range-typed-as-written-floats"),
    pytest.param("a=0:2:0.5", ["0.0", "0.5", "1.0", "1.5", "2.0"], id="range-float-step-all-floats"),
    pytest.param("a=1:3", ["1", "2", "3"], id="range-typed-as-written-ints"),
    pytest.param("a=1:2:#3", ["1.0", "1.5", "2.0"], id="count-non-integer-values-floats"),
    pytest.param("a=1000:1:*0.1", ["1000", "100", "10", "1"], id="geometric-factor-spelling-not-a-type"),
    pytest.param("a=1e3:3e3:1e3", ["1000.0", "2000.0", "3000.0"], id="range-exponent-is-float"),
    pytest.param("a=1.:2:0.5", ["1.0", "1.5", "2.0"], id="range-trailing-point"),
    pytest.param("a=4.5:-4.5:-1.5", ["4.5", "3.0", "1.5", "0.0", "-1.5", "-3.0", "-4.5"],
                 id="range-float-down-through-zero"),
    pytest.param("a=:5", ["0", "1", "2", "3", "4", "5"], id="range-omitted-start"),
    pytest.param("a=5:1:-1", ["5", "4", "3", "2", "1"], id="range-counts-down"),
    pytest.param("a=1:10:4", ["1", "5", "9"], id="range-step-misses-stop"),
    pytest.param("a=-1:1", ["-1", "0", "1"], id="range-negative-start"),
    pytest.param("a=-0.3:0:0.1", ["-0.3", "-0.2", "-0.1", "0.0"], id="range-negative-floats-to-zero"),
    pytest.param("a=3:3", ["3"], id="range-single-point"),
    pytest.param("a=1e-3:3e-3:1e-3", ["0.001", "0.002", "0.003"], id="range-exponents"),
    pytest.param("a=.5:1.5:.5", ["0.5", "1.0", "1.5"], id="range-leading-point"),
    pytest.param("a=1 : 3", ["1", "2", "3"], id="range-spaces-around-colons"),
    # SI letters in ranges
    pytest.param("a=1:3:k", ["1000", "2000", "3000"], id="range-scaled-ints-never-1e3"),
    pytest.param("a=0.1:0.4:0.1:m", ["0.0001", "0.0002", "0.0003", "0.0004"], id="range-step-and-scale"),
    pytest.param("a=1m:5m", ["0.001", "0.002", "0.003", "0.004", "0.005"], id="range-si-bounds"),
    pytest.param("a=1m:5m:2", ["0.001", "0.003", "0.005"], id="range-step-in-bounds-unit"),
    pytest.param("a=1m:5m:2m", ["0.001", "0.003", "0.005"], id="range-step-with-letter"),
    pytest.param("a=:3m", ["0.0", "0.001", "0.002", "0.003"], id="range-omitted-start-takes-unit"),
    pytest.param("a=1m:1:250m", ["0.001", "0.251", "0.501", "0.751"], id="range-mixed-letters-step-letter"),
    pytest.param("a=1k:3k", ["1000", "2000", "3000"], id="range-kilo-bounds-ints"),
    pytest.param("a=2.5k:3k:0.5", ["2500", "3000"], id="range-fractional-kilo"),
    pytest.param("a=1:3:T", ["1000000000000", "2000000000000", "3000000000000"], id="range-tera"),
    pytest.param("a=1:2:f", ["1e-15", "2e-15"], id="range-femto"),
    # HydraFlow's forms: N:S and a last field eN (1.1)
    pytest.param("a=1:k", ["1000"], id="n-s-kilo"),
    pytest.param("a=4:M", ["4000000"], id="n-s-mega"),
    pytest.param("a=2.5:m", ["0.0025"], id="n-s-milli-float"),
    pytest.param("a=1:M,3:7:2:M", ["1000000", "3000000", "5000000", "7000000"], id="n-s-beside-scaled-range"),
    pytest.param("a=3:e2", ["300"], id="n-e-power-of-ten"),
    pytest.param("a=1:2:3:e-3", ["0.001"], id="n-e-plain-step-past-the-stop-gives-the-start"),
    pytest.param("a=1:5:10", ["1"], id="plain-step-past-the-stop-gives-the-start"),
    pytest.param("a=1:5:*10", ["1"], id="factor-past-the-stop-gives-the-start"),
    pytest.param("a=1:2:e2", ["100", "200"], id="range-e-scale"),
    pytest.param("a=1:2:0.5:E-3", ["0.001", "0.0015", "0.002"], id="range-step-and-e-scale"),
    pytest.param("a=:2:e2", ["0", "100", "200"], id="range-omitted-start-e-scale"),
    pytest.param("a=1.2:1.4:0.1:k", ["1200", "1300", "1400"], id="range-float-scaled-by-value"),
    # Geometric and counted ranges
    pytest.param("a=1:1000:*10", ["1", "10", "100", "1000"], id="geometric"),
    pytest.param("a=1:20:*3", ["1", "3", "9"], id="geometric-stops-inside"),
    pytest.param("a=1:0.001:*0.1", ["1.0", "0.1", "0.01", "0.001"], id="geometric-down"),
    pytest.param("a=1e-4:1:*10", ["0.0001", "0.001", "0.01", "0.1", "1.0"], id="geometric-float"),
    pytest.param("a=-1:-100:*10", ["-1", "-10", "-100"], id="geometric-negative"),
    pytest.param("a=1u:1m:*10", ["1e-06", "1e-05", "0.0001", "0.001"], id="geometric-si-bounds"),
    pytest.param("a=1:2:*1.1", ["1.0", "1.1", "1.21", "1.331", "1.4641", "1.61051", "1.771561", "1.9487171"],
                 id="geometric-exact-decimals"),
    pytest.param("a=0:1:#4", ["0.0", "0.333333333333333", "0.666666666666667", "1.0"], id="count-rounded-15"),
    pytest.param("a=0:1:#5", ["0.0", "0.25", "0.5", "0.75", "1.0"], id="count-exact"),
    pytest.param("a=0:10:#6", ["0", "2", "4", "6", "8", "10"], id="count-ints"),
    pytest.param("a=2:2:#1", ["2"], id="count-one-point-equal-bounds"),
    pytest.param("a=10:0:#3", ["10", "5", "0"], id="count-down"),
    # Groups and concatenation (1.2)
    pytest.param("model=(cnn,vit)_(small,large)", ["cnn_small", "cnn_large", "vit_small", "vit_large"],
                 id="group-product"),
    pytest.param("x=(1,2,5)e-(3:4)", ["1e-3", "1e-4", "2e-3", "2e-4", "5e-3", "5e-4"], id="group-exponents"),
    pytest.param("w=(1,4)k,(6,8)M", ["1000", "4000", "6000000", "8000000"], id="group-si-scale"),
    pytest.param("a=(0.1:0.4:0.1)k", ["100", "200", "300", "400"], id="group-scaled-range-ints"),
    pytest.param("a=(1,2)m", ["0.001", "0.002"], id="group-milli-floats"),
    pytest.param("a=(1000,1500)m", ["1.0", "1.5"], id="group-scaled-floats-rule-per-group"),
    pytest.param("a=(res,mobile)M", ["resM", "mobileM"], id="group-letter-on-text-is-text"),
    pytest.param("a=(1,2)k_x", ["1k_x", "2k_x"], id="group-letter-not-ending-item-is-text"),
    pytest.param("a=(1,2)kg", ["1kg", "2kg"], id="group-two-letters-is-text"),
    pytest.param("a=1_(1,2)k", ["1_1000", "1_2000"], id="group-letter-scales-own-group-only"),
    pytest.param("a=((a,b)(1,2)),c", ["a1", "a2", "b1", "b2", "c"], id="group-nested"),
    pytest.param("a=((1,2)k)m", ["1", "2"], id="group-nested-scales-type-by-value"),
    pytest.param("a=((1,3)k)u", ["0.001", "0.003"], id="group-nested-scales-floats"),
    pytest.param("a=(1:3)(a,b)", ["1a", "1b", "2a", "2b", "3a", "3b"], id="group-range-then-text"),
    pytest.param("a=1:2(x)", ["1x", "2x"], id="range-then-group"),
    pytest.param("a=-(1,2)", ["-1", "-2"], id="sign-then-group"),
    pytest.param("a=(cnn)_(small,large)", ["cnn_small", "cnn_large"], id="group-instead-of-function"),
    pytest.param("a=( a , b )", ["a", "b"], id="group-spaces"),
    # Hydra's own syntax passes through (1.5)
    pytest.param("a=5m", ["5m"], id="si-letter-outside-range-is-text"),
    pytest.param("a=1,2,3", ["1", "2", "3"], id="hydra-simple-choice"),
    pytest.param("a=1 , 2", ["1", "2"], id="hydra-choice-spaces"),
    pytest.param("a='1,2'", ["'1,2'"], id="quoted-comma"),
    pytest.param("a='12:30'", ["'12:30'"], id="quoted-colon"),
    pytest.param('a="a:b"', ['"a:b"'], id="double-quoted-colon"),
    pytest.param("a=1\\:2", ["1\\:2"], id="escaped-colon"),
    pytest.param("a=a:b", ["a:b"], id="text-with-colon"),
    pytest.param("a=http://x:80", ["http://x:80"], id="url"),
    pytest.param("a=[1,2]", ["[1,2]"], id="list"),
    pytest.param("a={x:1,y:2}", ["{x:1,y:2}"], id="dict"),
    pytest.param("a=${oc.env:HOME}", ["${oc.env:HOME}"], id="interpolation-with-colon"),
    pytest.param("a=${x},${y}", ["${x}", "${y}"], id="interpolations-swept"),
    pytest.param("a=1_000", ["1_000"], id="underscore-number-verbatim"),
    pytest.param("a=1e3", ["1e3"], id="float-verbatim"),
    pytest.param("a=", [""], id="empty-value"),
    pytest.param("a=null", ["null"], id="null"),
    pytest.param("a=x y", ["x y"], id="inner-space-kept"),
    pytest.param("key=ab\\ ", ["ab\\ "], id="escaped-trailing-space-kept"),
    pytest.param("a=x\\ ,b", ["x\\ ", "b"], id="escaped-space-before-comma-kept"),
    pytest.param("a=(x\\ ,y)z", ["x\\ z", "yz"], id="escaped-space-in-group-kept"),
    pytest.param("key=ab\\\t", ["ab\\\t"], id="escaped-trailing-tab-kept"),
    pytest.param("key=\\ \\ \\\t", ["\\ \\ \\\t"], id="only-escaped-whitespace-kept"),
    pytest.param("key=a\\\\ ", ["a\\\\"], id="escaped-backslash-then-space-stripped"),
    pytest.param("a=range(1,4)", ["1", "2", "3"], id="hydra-range"),
    pytest.param("a=range(0,1,0.25)", ["0.0", "0.25", "0.5", "0.75"], id="hydra-float-range"),
    pytest.param("a=choice(x,y)", ["x", "y"], id="hydra-choice"),
    pytest.param("a=sort(3,1,2)", ["1", "2", "3"], id="hydra-sort"),
    pytest.param("a=int(range(1,3))", ["1", "2"], id="hydra-cast-of-sweep"),
    pytest.param("a=int(3.5)", ["3"], id="hydra-cast-of-value-evaluated"),
    pytest.param("key=str(10),5", ["'10'", "5"], id="hydra-str-cast-stays-a-string"),
    pytest.param("key=str(1,2)", ["'1'", "'2'"], id="hydra-str-cast-of-sweep-stays-strings"),
    pytest.param("a=str(true)", ["'true'"], id="hydra-str-cast-of-bool"),
    pytest.param("a=choice('a b',c,'10')", ["a\\ b", "c", "'10'"], id="hydra-choice-strings-read-back-as-strings"),
    pytest.param("a=range(1,0,-0.1)", ["1.0", "0.9", "0.8", "0.7", "0.6", "0.5", "0.4", "0.3", "0.2", "0.1"],
                 id="hydra-float-range-exact-as-hydra-main"),
    pytest.param("a=sort(range(1,0,-0.1))", ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1.0"],
                 id="hydra-sort-float-range-stays-inside"),
    pytest.param("a=sort(range(0,5,2),reverse=true)", ["4", "2", "0"], id="hydra-sort-reverse-uses-last-element"),
    pytest.param("a=sort(range(1.5,-0.5,-0.5))", ["0.0", "0.5", "1.0", "1.5"], id="hydra-sort-float-range-down"),
    pytest.param("a=tag(t,sort(range(0,0.3,0.1),reverse=true))", ["0.2", "0.1", "0.0"], id="hydra-tag-of-sorted-range"),
    pytest.param("a=float(range(1,3))", ["1.0", "2.0"], id="hydra-float-cast-of-range"),
    pytest.param("a=range(0,0.35,0.05)", ["0.0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3"],
                 id="hydra-float-range-no-artefacts"),
    pytest.param("a=tag(t,choice(1,2))", ["1", "2"], id="hydra-tag"),
    pytest.param("a=range (1,3)", ["1", "2"], id="hydra-function-space-before-paren"),
    pytest.param("a=glob(*)", ["glob(*)"], id="glob-verbatim"),
    pytest.param("a=interval(0,1)", ["interval(0,1)"], id="interval-verbatim"),
    pytest.param("a=1:2,range(5,7)", ["1", "2", "5", "6"], id="hydra-sweep-beside-range"),
    pytest.param("a=(range(1,3))k", ["1000", "2000"], id="hydra-sweep-in-scaled-group"),
    # KEY/S
    pytest.param("lr/m=1,2,5", ["0.001", "0.002", "0.005"], id="key-scale"),
    pytest.param("lr/k=1:3", ["1000", "2000", "3000"], id="key-scale-range-ints"),
    pytest.param("lr/u=0.5,1", ["5e-07", "1e-06"], id="key-scale-micro"),
]


@pytest.mark.parametrize("override, expected", VALUE_CASES)
def test_values(override, expected):
    assert values(override) == expected
    assert count([override]) == len(expected)


# ---------------------------------------------------------------------------
# Keys, order, pipes, repeated keys
# ---------------------------------------------------------------------------

RUN_CASES = [
    pytest.param(["a=1,2", "b=x,y"], ["a=1 b=x", "a=1 b=y", "a=2 b=x", "a=2 b=y"], id="order-last-fastest"),
    pytest.param(["lr=1m:3m", "model=small,large"],
                 ["lr=0.001 model=small", "lr=0.001 model=large", "lr=0.002 model=small",
                  "lr=0.002 model=large", "lr=0.003 model=small", "lr=0.003 model=large"], id="readme-first"),
    pytest.param(["a=1,2|b=3,4", "c=5,6"],
                 ["a=1 c=5", "a=1 c=6", "a=2 c=5", "a=2 c=6", "b=3 c=5", "b=3 c=6", "b=4 c=5", "b=4 c=6"],
                 id="pipe-union"),
    pytest.param(["x=7,8", "a=1|b=2"], ["x=7 a=1", "x=8 a=1", "x=7 b=2", "x=8 b=2"], id="pipe-sub-sweep-order"),
    pytest.param(["a=1|2"], ["a=1", "a=2"], id="pipe-section-reuses-key"),
    pytest.param(["a=1|b=2", "c=3|d=4"], ["a=1 c=3", "a=1 d=4", "b=2 c=3", "b=2 d=4"],
                 id="pipes-multiply-later-fastest"),
    pytest.param(["lr/m=1|2"], ["lr=0.001", "lr=0.002"], id="pipe-scaled-key-reused"),
    pytest.param(["a=1:2|+b=x"], ["a=1", "a=2", "+b=x"], id="pipe-section-key-with-prefix"),
    pytest.param(["model/m=a,b"], ["model/m=a", "model/m=b"], id="key-slash-letter-group-path"),
    pytest.param(["lr/m=1,x"], ["lr/m=1", "lr/m=x"], id="key-scale-needs-all-numbers"),
    pytest.param(["opt.lr/m=1,2"], ["opt.lr=0.001", "opt.lr=0.002"], id="key-scale-dotted"),
    pytest.param(["+a=1", "++b=2", "~c", "~d=1", "g@pkg=x", "group/sub=y"],
                 ["+a=1 ++b=2 ~c ~d=1 g@pkg=x group/sub=y"], id="hydra-key-forms"),
    pytest.param(["a=1,2", "b=3", "a=5"], ["a=5 b=3"], id="repeated-key-last-wins-first-position"),
    pytest.param(["lr/m=1", "lr=2"], ["lr=2"], id="repeated-key-after-scaling"),
    pytest.param([], [""], id="no-overrides-one-run"),
]


@pytest.mark.parametrize("overrides, expected", RUN_CASES)
def test_runs(overrides, expected):
    assert runs(*overrides) == expected
    assert count(overrides) == len(expected)


# ---------------------------------------------------------------------------
# Errors: exact messages, caret under the offending column
# ---------------------------------------------------------------------------

def _message(problem: str, override: str, column: int, hint: str = "") -> str:
    shown = override.replace("\t", " ")
    lines = [f"{problem} in override", f"    {shown}", "    " + " " * column + "^"]
    return "\n".join(lines + ([f"hint: {hint}"] if hint else []))


RANGE_FORM = ("a range is START:STOP[:STEP][:S], e.g. 1:5, 0:1:0.25, 1m:5m, 1:1000:*10, 0:1:#5, 1:3:k")
LIMIT_HINT = ("split the sweep, or raise the limit "
              "(expand(..., max_values=N) in Python, hydraflow expand --max-values N)")
COUNT_HINT = ("'#n' gives n evenly spaced points, both bounds included, e.g. 0:1:#5 "
              "('#1' only when both bounds are equal)")
AS_TEXT = f"{RANGE_FORM}; to pass text with ':', quote it or escape each colon as '\\:'"

ERROR_CASES = [
    pytest.param("model=(cnn,vit_small", "unclosed '('", 6, "close the group with ')'", id="unclosed-group"),
    pytest.param("a=(1,2", "unclosed '('", 2, "close the group with ')'", id="unclosed-group-2"),
    pytest.param("a=1,2)", "unmatched ')'", 5, "remove it, or open a group with '('", id="unmatched-paren"),
    pytest.param("a=(1|2)", "'|' inside a group", 4,
                 "pipes split a whole value: write a=(1,2)|(3,4), not a=(1|2)", id="pipe-in-group"),
    pytest.param("a=()", "empty group '()'", 2, "", id="empty-group"),
    pytest.param("a=1|", "empty '|' section", 4, "every section needs a value, e.g. a=1|2", id="empty-section-end"),
    pytest.param("a=|1", "empty '|' section", 2, "every section needs a value, e.g. a=1|2",
                 id="empty-section-start"),
    pytest.param("a=1,", "empty value after ','", 3, "", id="trailing-comma"),
    pytest.param("a=,1", "empty value before ','", 2, "", id="leading-comma"),
    pytest.param("=1", "empty key", 0, "an override is KEY=VALUE, e.g. lr=0.1", id="empty-key"),
    pytest.param("abc", "missing '='", 3, "an override is KEY=VALUE, e.g. lr=0.1 or lr=1:5", id="no-equals"),
    pytest.param("a=b=c", "unexpected '='", 3, "quote a value that holds '=', e.g. a='x=1'", id="second-equals"),
    pytest.param("a='x", "unclosed ' quote", 2, "close the string with '", id="unclosed-quote"),
    pytest.param("a=[1,2", "unclosed '['", 2, "close it with ']'", id="unclosed-list"),
    pytest.param("a=${x", "unclosed '${'", 2, "close it with '}'", id="unclosed-interpolation"),
    pytest.param("a=1:3tep", "range stop '3tep' is not a number", 4, AS_TEXT, id="range-bad-stop"),
    pytest.param("a=1:3:xyz", "range step 'xyz' is not a number", 6, AS_TEXT, id="range-bad-step"),
    pytest.param("a=x1:3", None, None, None, id="letter-start-is-text-not-error"),
    pytest.param("a=1:", "range has no stop", 4, "", id="range-no-stop"),
    pytest.param("a=1:2:3:4:5", "too many ':' in range", 9, "", id="range-too-many-fields"),
    pytest.param("a=1:2:3:4:k", "too many ':' in range", 7, "", id="range-too-many-fields-before-scale"),
    pytest.param("a=1:2:1:q", "'q' is not an SI letter", 8,
                 "the last field of a range scales it by one of: f p n u m k M G T, or by eN (10^N)",
                 id="range-bad-letter"),
    pytest.param("lr=1m:5m:1k", "range step '1k' jumps past the stop from the start", 9,
                 "the bounds are 0.004 apart; check the step's SI letter (1m:5m:1m steps by 0.001), "
                 "or write one value without ':'", id="range-step-jumps-past-stop"),
    pytest.param("a=1:5:2k", "range step '2k' jumps past the stop from the start", 6,
                 "the bounds are 4 apart; check the step's SI letter (1m:5m:1m steps by 0.001), "
                 "or write one value without ':'", id="range-lettered-step-jumps-past-stop"),
    pytest.param("a=0.1:0.5", "the default step 1 jumps past the stop '0.5'", 6,
                 "the bounds are 0.4 apart; give a smaller step, e.g. 0:0.5:0.1", id="range-default-step-jumps"),
    pytest.param("a=5:5:1k", None, None, None, id="range-equal-bounds-any-step"),
    pytest.param("a=:k", "no number before ':k'", 2,
                 "N:k scales one number, e.g. 1:k; a range is START:STOP:k", id="n-s-without-number"),
    pytest.param("a=1:k:2", "range stop 'k' is not a number", 4, AS_TEXT, id="letter-field-is-never-a-bound"),
    pytest.param("a=1:e2000", "number is out of range once scaled", 2,
                 "numbers in a range must lie between 1e-1000 and 1e1000 in size", id="n-e-out-of-range"),
    pytest.param("a=range(1,5,0)", "range() step is 0", 2,
                 "a Hydra range needs a step other than 0, e.g. range(1,5,1)", id="hydra-range-zero-step"),
    pytest.param("a=range(0,1e18)", "about 10^18 values, more than the limit of 1000", 2, LIMIT_HINT,
                 id="hydra-range-huge-counted-first"),
    pytest.param("a=shuffle(range(0,1e9))", "1000000000 values, more than the limit of 1000", 2, LIMIT_HINT,
                 id="hydra-shuffle-huge-range-counted-first"),
    pytest.param("a=range(0,inf)", "range() bounds must be finite numbers", 2, "e.g. range(0,1,0.1)",
                 id="hydra-range-infinite"),
    pytest.param("a=str(interval(0,1))", "Hydra cannot evaluate 'str(interval(0,1))'", 2,
                 "Hydra says: ValueError while evaluating 'str(interval(0,1))': Intervals cannot be cast to str",
                 id="hydra-cast-error-at-parse"),
    pytest.param("a=" + "(" * 60 + "1" + ")" * 60, "groups nested deeper than 50", 52,
                 "flatten the groups; each level of '(..)' multiplies values only once", id="groups-too-deep"),
    pytest.param("a=" + "[" * 60 + "]" * 60, "'[' nested deeper than 50", 52,
                 "Hydra's parser cannot read deeper lists or dicts", id="lists-too-deep"),
    pytest.param("a=" + "{" * 51 + "}" * 51, "'{' nested deeper than 50", 52,
                 "Hydra's parser cannot read deeper lists or dicts", id="dicts-too-deep"),
    pytest.param("a=1:5:0", "range step is 0", 6, RANGE_FORM, id="range-zero-step"),
    pytest.param("a=5:1", "the default step moves away from the stop '1'", 4,
                 "count down with a negative step, e.g. 5:1:-1", id="range-default-step-away"),
    pytest.param("a=-a:b", "range start '-a' is not a number", 2, AS_TEXT, id="range-start-checked-first"),
    pytest.param("a=1:1e9999999", "range stop '1e9999999' is out of range", 4,
                 "numbers in a range must lie between 1e-1000 and 1e1000 in size", id="range-number-too-big"),
    pytest.param("a=1:2:*1e-2000", "range factor '*1e-2000' is out of range", 6,
                 "numbers in a range must lie between 1e-1000 and 1e1000 in size", id="range-factor-too-small"),
    pytest.param("a=1:1e80", "about 10^80 values, more than the limit of 1000", 2, LIMIT_HINT,
                 id="too-many-huge-count"),
    pytest.param("a=1e-29:1", None, None, None, id="tiny-start-no-value-past-stop"),
    pytest.param("a=1:1e30:*1.001", "69113 values, more than the limit of 1000", 2, LIMIT_HINT,
                 id="too-many-geometric-counted-up-front"),
    pytest.param("a=\t(1,2", "unclosed '('", 3, "close the group with ')'", id="tab-keeps-caret-aligned"),
    pytest.param("a=1:5:-1", "range step '-1' moves away from the stop", 6,
                 "count up with a positive step", id="range-step-away"),
    pytest.param("a=1m:1:0.1", "range bounds '1m' and '1' have different SI letters", 7,
                 "give the step its own letter, e.g. 1m:1:100m", id="range-mixed-letters-step"),
    pytest.param("a=1m:1", "range bounds '1m' and '1' have different SI letters", 5,
                 "give the step its own letter, e.g. 1m:1:100m", id="range-mixed-letters-default-step"),
    pytest.param("a=1:10:*1", "range factor '*1' must be above 0 and not 1", 7,
                 "a geometric range multiplies by its factor, e.g. 1:1000:*10 or 1:0.001:*0.1",
                 id="factor-one"),
    pytest.param("a=1:10:*0", "range factor '*0' must be above 0 and not 1", 7,
                 "a geometric range multiplies by its factor, e.g. 1:1000:*10 or 1:0.001:*0.1",
                 id="factor-zero"),
    pytest.param("a=1:10:*-2", "range factor '*-2' must be above 0 and not 1", 7,
                 "a geometric range multiplies by its factor, e.g. 1:1000:*10 or 1:0.001:*0.1",
                 id="factor-negative"),
    pytest.param("a=1:10:*0.5", "range factor '*0.5' moves away from the stop", 7, "", id="factor-away"),
    pytest.param("a=0:10:*2", "a geometric range must not start at, reach or cross 0", 7,
                 "use bounds of the same sign, e.g. 1e-4:1:*10", id="geometric-from-zero"),
    pytest.param("a=-1:10:*2", "a geometric range must not start at, reach or cross 0", 8,
                 "use bounds of the same sign, e.g. 1e-4:1:*10", id="geometric-crosses-zero"),
    pytest.param("a=0:1:#0", "range count '#0' must be a whole number of at least 2", 6,
                 COUNT_HINT, id="count-zero"),
    pytest.param("a=0:1:#-1", "range count '#-1' must be a whole number of at least 2", 6,
                 COUNT_HINT, id="count-negative"),
    pytest.param("a=0:1:#2.5", "range count '#2.5' must be a whole number of at least 2", 6,
                 COUNT_HINT, id="count-fraction"),
    pytest.param("a=0:1:#1", "range count '#1' must be a whole number of at least 2", 6,
                 COUNT_HINT, id="count-one"),
    pytest.param("a=1:3'x'", "invalid range", 5,
                 "a range holds only numbers; to pass text with ':', quote the whole value or "
                 "escape each colon as '\\:'", id="range-with-quote"),
    pytest.param("a=cnn_(small,large)", "Hydra cannot evaluate 'cnn_(small,large)'", 2,
                 "Hydra says: HydraException while evaluating 'cnn_(small,large)': Unknown function 'cnn_'",
                 id="identifier-paren-is-function"),
    pytest.param("a=range(1,3)x", "unexpected text after range(...)", 12,
                 "a Hydra function call must be a whole value; to concatenate, write a group such as (a)_(b,c)",
                 id="text-after-function"),
    pytest.param("a=1,interval(0,1)", "interval() cannot be combined with other values", 4,
                 "interval(...) must be the whole value of its override", id="interval-combined"),
    pytest.param("a='x'y", "Hydra cannot parse the value ''x'y'", 2,
                 "Hydra says: extraneous input 'y' expecting <EOF>", id="hydra-rejects-atom"),
    pytest.param("a=1,'x'y", "Hydra cannot parse the value ''x'y'", 4,
                 "Hydra says: extraneous input 'y' expecting <EOF>", id="hydra-rejects-second-item"),
    pytest.param("a=5µ", "Hydra cannot parse the value '5µ'", 2,
                 "Hydra says: token recognition error at: 'µ'", id="hydra-rejects-micro-sign"),
    pytest.param("a b=1", "Hydra cannot parse the key 'a b'", 0,
                 "Hydra says: token recognition error at: ' '", id="hydra-rejects-key"),
    pytest.param("a=1:1000,1", "1001 values, more than the limit of 1000", 2,
                 LIMIT_HINT, id="too-many-values"),
    pytest.param("a=(1:40)(1:40)", "1600 values, more than the limit of 1000", 2,
                 LIMIT_HINT, id="too-many-group-product"),
    pytest.param("a=1:1001", "1001 values, more than the limit of 1000", 2,
                 LIMIT_HINT, id="too-many-range"),
]


@pytest.mark.parametrize(
    "overrides, problem, column",
    [
        pytest.param(["a=1|b=2", "a=5"], "'a' is set by two overrides, one of them with '|'", 0,
                     id="piped-key-repeated-later"),
        pytest.param(["b=5,6", "a=1|b=2"], "'b' is set by two overrides, one of them with '|'", 0,
                     id="piped-key-repeated-earlier"),
        pytest.param(["a=1|b=2", "c=3|b=4"], "'b' is set by two overrides, one of them with '|'", 0,
                     id="two-pipes-share-a-key"),
    ],
)
def test_repeated_keys_with_pipes_are_errors(overrides, problem, column):
    with pytest.raises(SweepSyntaxError) as info:
        expand(overrides)
    assert str(info.value) == _message(problem, overrides[-1], column,
                                       "set each key of a '|' section in one override only")


@pytest.mark.parametrize("override, problem, column, hint", ERROR_CASES)
def test_errors(override, problem, column, hint):
    if problem is None:  # the table also records what is NOT an error
        assert count([override]) == 1
        return
    with pytest.raises(SweepSyntaxError) as info:
        expand([override], max_values=1000)
    assert str(info.value) == _message(problem, override, column, hint)
    assert isinstance(info.value, ValueError)


def test_long_override_is_shown_around_the_caret():
    override = "a=" + "x" * 1000 + ",'y'z"
    with pytest.raises(SweepSyntaxError) as info:
        expand([override])
    assert str(info.value) == "\n".join([
        "Hydra cannot parse the value ''y'z' in override",
        "    ..." + "x" * 59 + ",'y'z",
        "    " + " " * 63 + "^",
        "hint: Hydra says: extraneous input 'z' expecting <EOF>",
    ])


@pytest.mark.parametrize("override, runs", [
    pytest.param("a=" + "x " * 1_000_000, 1, id="2MB-value"),
    pytest.param("a=" + ",".join(["x"] * 100_000), 100_000, id="100k-commas"),
    pytest.param("a='" + "x " * 1_000_000 + "'", 1, id="2MB-quoted"),
])
def test_huge_values_are_counted(override, runs):
    # Linear work (quadratic once): tests/benchmarks/bench_syntax.py measures it; here only the count.
    assert count([override]) == runs


def test_error_message_matches_spec_example():
    with pytest.raises(SweepSyntaxError) as info:
        expand(["model=(cnn,vit_small"])
    assert str(info.value).splitlines()[:3] == [
        "unclosed '(' in override",
        "    model=(cnn,vit_small",
        "          ^",
    ]


def test_error_survives_pickling():
    with pytest.raises(SweepSyntaxError) as info:
        expand(["a=1:x"])
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


def test_errors_are_raised_by_expand_itself_not_by_the_first_next():
    with pytest.raises(SweepSyntaxError):
        expand(["a=1", "b=(x"])  # no next() needed


def test_max_values_can_be_raised():
    assert count(["a=1:2000"]) == 2000
    assert count(["a=1:1000001"], max_values=2 * 10**6) == 1000001
    with pytest.raises(SweepSyntaxError, match="more than the limit of 1000000"):
        count(["a=1:1000001"])


def test_a_string_is_not_a_list_of_overrides():
    with pytest.raises(TypeError, match="list of overrides"):
        expand("a=1,2")


def test_expand_is_lazy_on_a_huge_sweep():
    overrides = ["a=1:1000", "b=1:1000", "c=1:1000", "d=0:999999"]
    assert count(overrides) == 10**15
    it = expand(overrides)
    assert next(it) == ["a=1", "b=1", "c=1", "d=0"]
    assert next(it) == ["a=1", "b=1", "c=1", "d=1"]


def test_lazy_axis_rolls_over_in_order():
    # An axis above the cache size stays lazy; the odometer must still roll over right.
    got = list(expand(["a=1,2", "b=0:69999"]))
    assert len(got) == 140000
    assert got[69999] == ["a=1", "b=69999"]
    assert got[70000] == ["a=2", "b=0"]


# ---------------------------------------------------------------------------
# The original HydraFlow's parser test cases (github.com/daizutabi/hydraflow,
# tests/executor/test_parser.py): the same values, except the documented
# differences -- integers never written as 1e3, float ranges all floats,
# Hydra's order (the last piece varies fastest).
# ---------------------------------------------------------------------------

def _hf(override, theirs, ours, order="same"):
    return pytest.param(override, theirs, ours, order, id=f"hydraflow:{override}")


HYDRAFLOW_CASES = [
    _hf("a=1", ["1"], ["1"]),
    _hf("a=1k", ["1k"], ["1k"]),
    _hf("a=1:m", ["1e-3"], ["0.001"]),
    _hf("a=1:M", ["1e6"], ["1000000"]),
    _hf("a=0.234p", ["0.234p"], ["0.234p"]),
    _hf("a=1:3", ["1", "2", "3"], ["1", "2", "3"]),
    _hf("a=0:1:0.25", ["0", "0.25", "0.5", "0.75", "1"], ["0.0", "0.25", "0.5", "0.75", "1.0"]),
    _hf("a=10:11:0.25", ["10", "10.25", "10.5", "10.75", "11"], ["10.0", "10.25", "10.5", "10.75", "11.0"]),
    _hf("a=:3", ["0", "1", "2", "3"], ["0", "1", "2", "3"]),
    _hf("a=5:7", ["5", "6", "7"], ["5", "6", "7"]),
    _hf("a=-1:1", ["-1", "0", "1"], ["-1", "0", "1"]),
    _hf("a=1:2:0.5", ["1", "1.5", "2"], ["1.0", "1.5", "2.0"]),
    _hf("a=1.:2:0.5", ["1", "1.5", "2"], ["1.0", "1.5", "2.0"]),
    _hf("a=2:3:0.5", ["2", "2.5", "3"], ["2.0", "2.5", "3.0"]),
    _hf("a=-1:1:0.5", ["-1", "-0.5", "0", "0.5", "1"], ["-1.0", "-0.5", "0.0", "0.5", "1.0"]),
    _hf("a=4:2:-1", ["4", "3", "2"], ["4", "3", "2"]),
    _hf("a=4.5:2:-1.5", ["4.5", "3"], ["4.5", "3.0"]),
    _hf("a=4.5:1.5:-1.5", ["4.5", "3", "1.5"], ["4.5", "3.0", "1.5"]),
    _hf("a=4.5:-4.5:-1.5", ["4.5", "3", "1.5", "0", "-1.5", "-3", "-4.5"],
        ["4.5", "3.0", "1.5", "0.0", "-1.5", "-3.0", "-4.5"]),
    _hf("a=1:2:u", ["1e-6", "2e-6"], ["1e-06", "2e-06"]),
    _hf("a=1:2:.25:n", ["1e-9", "1.25e-9", "1.5e-9", "1.75e-9", "2e-9"],
        ["1e-09", "1.25e-09", "1.5e-09", "1.75e-09", "2e-09"]),
    _hf("a=1.2:1.4:0.1:k", ["1.2e3", "1.3e3", "1.4e3"], ["1200", "1300", "1400"]),
    _hf("a=1.2e-3:1.4e-3:0.1e-3", ["0.0012", "0.0013", "0.0014"], ["0.0012", "0.0013", "0.0014"]),
    _hf("a=1.2e-12:1.4e-12:0.1e-12", ["1.2e-12", "1.3e-12", "1.4e-12"], ["1.2e-12", "1.3e-12", "1.4e-12"]),
    _hf("a=1.22e-6:1.24e-6:0.01e-6", ["1.22e-06", "1.23e-06", "1.24e-06"], ["1.22e-06", "1.23e-06", "1.24e-06"]),
    _hf("a=1.2e3:1.4e3:0.1e3", ["1.2e+03", "1.3e+03", "1.4e+03"], ["1200.0", "1300.0", "1400.0"]),
    _hf("a=1.2e6:1.4e6:0.1e6", ["1.2e+06", "1.3e+06", "1.4e+06"], ["1200000.0", "1300000.0", "1400000.0"]),
    _hf("a=1:2:e2", ["1e2", "2e2"], ["100", "200"]),
    _hf("a=:2:e2", ["0", "1e2", "2e2"], ["0", "100", "200"]),
    _hf("a=-2:2:k", ["-2e3", "-1e3", "0", "1e3", "2e3"], ["-2000", "-1000", "0", "1000", "2000"]),
    _hf("a=(1:3,5:9:2,20)k", ["1e3", "2e3", "3e3", "5e3", "7e3", "9e3", "20e3"],
        ["1000", "2000", "3000", "5000", "7000", "9000", "20000"]),
    _hf("a=1,2,3", ["1", "2", "3"], ["1", "2", "3"]),
    _hf("a=1:3,5:6", ["1", "2", "3", "5", "6"], ["1", "2", "3", "5", "6"]),
    _hf("a=0:1:0.25,2.0", ["0", "0.25", "0.5", "0.75", "1", "2.0"], ["0.0", "0.25", "0.5", "0.75", "1.0", "2.0"]),
    _hf("a=3", ["3"], ["3"]),
    _hf("a=3:k", ["3e3"], ["3000"]),
    _hf("a=1:3:k,3:7:2:M", ["1e3", "2e3", "3e3", "3e6", "5e6", "7e6"],
        ["1000", "2000", "3000", "3000000", "5000000", "7000000"]),
    _hf("a=1:M,3:7:2:M", ["1e6", "3e6", "5e6", "7e6"], ["1000000", "3000000", "5000000", "7000000"]),
    _hf("a=[1,2],[3,4]", ["[1,2]", "[3,4]"], ["[1,2]", "[3,4]"]),
    _hf("a='1,2','3,4'", ["'1,2'", "'3,4'"], ["'1,2'", "'3,4'"]),
    _hf('a="1,2","3,4"', ['"1,2"', '"3,4"'], ['"1,2"', '"3,4"']),
    _hf("a=(1,4)k,(6,8)M", ["1e3", "4e3", "6e6", "8e6"], ["1000", "4000", "6000000", "8000000"]),
    _hf("a=(1:3)e-2,(5:7)e-3", ["1e-2", "2e-2", "3e-2", "5e-3", "6e-3", "7e-3"],
        ["1e-2", "2e-2", "3e-2", "5e-3", "6e-3", "7e-3"]),
    _hf("a/k=1,2,3", ["1e3", "2e3", "3e3"], ["1000", "2000", "3000"]),
    _hf("a/k=1:3,5:6", ["1e3", "2e3", "3e3", "5e3", "6e3"], ["1000", "2000", "3000", "5000", "6000"]),
    _hf("a/k=0:1:0.25,2.0", ["0e3", "0.25e3", "0.5e3", "0.75e3", "1e3", "2.0e3"],
        ["0", "250", "500", "750", "1000", "2000"]),
    _hf("a/k=3", ["3e3"], ["3000"]),
    _hf("a/M=1", ["1e6"], ["1000000"]),
    _hf("a/n=1,2", ["1e-9", "2e-9"], ["1e-09", "2e-09"]),
    _hf("a/M=1:2", ["1e6", "2e6"], ["1000000", "2000000"]),
    _hf("a=:3:2", ["0", "2"], ["0", "2"]),
    _hf("a=(2,4)m,2,3", ["2e-3", "4e-3", "2", "3"], ["0.002", "0.004", "2", "3"]),
    _hf("a=1:3:k,2:4:M", ["1e3", "2e3", "3e3", "2e6", "3e6", "4e6"],
        ["1000", "2000", "3000", "2000000", "3000000", "4000000"]),
    _hf("a/m=1:3,8:10", ["1e-3", "2e-3", "3e-3", "8e-3", "9e-3", "10e-3"],
        ["0.001", "0.002", "0.003", "0.008", "0.009", "0.01"]),
    _hf("a/n=1:2", ["1e-9", "2e-9"], ["1e-09", "2e-09"]),
    _hf("a=(0.1:0.4:0.1)k", ["0.1e3", "0.2e3", "0.3e3", "0.4e3"], ["100", "200", "300", "400"]),
    _hf("a=(1,2)(e-1,e2)", ["1e-1", "2e-1", "1e2", "2e2"], ["1e-1", "1e2", "2e-1", "2e2"], order="hydra"),
    _hf("a=(1,2)e(-1,2)", ["1e-1", "2e-1", "1e2", "2e2"], ["1e-1", "1e2", "2e-1", "2e2"], order="hydra"),
    _hf("a=1,2|3,4", ["1", "2", "3", "4"], ["1", "2", "3", "4"]),
    _hf("a/G=1,2|3,4", ["1e9", "2e9", "3e9", "4e9"], ["1000000000", "2000000000", "3000000000", "4000000000"]),
    _hf("a=1:4|3:5:m", ["1", "2", "3", "4", "3e-3", "4e-3", "5e-3"], ["1", "2", "3", "4", "0.003", "0.004", "0.005"]),
]


@pytest.mark.parametrize("override, theirs, ours, order", HYDRAFLOW_CASES)
def test_original_hydraflow_cases_give_the_same_values(override, theirs, ours, order):
    from decimal import Decimal, InvalidOperation

    def value(text):
        try:
            return Decimal(text)
        except InvalidOperation:
            return text

    got = values(override)
    assert got == ours
    same = [value(v) for v in got] == [value(v) for v in theirs]
    if order == "hydra":  # Hydra's order: the same values, the last piece varying fastest
        same = sorted(map(str, map(value, got))) == sorted(map(str, map(value, theirs)))
    assert same


@pytest.mark.parametrize(
    "overrides, runs_of_theirs",
    [
        pytest.param(["a=1:2|3,4", "b=5:6|c=7,8"],
                     [["a=1,2", "b=5,6"], ["a=1,2", "c=7,8"], ["a=3,4", "b=5,6"], ["a=3,4", "c=7,8"]],
                     id="hydraflow:pipes-multiply"),
        pytest.param(["a/m=1:2|3,4", "b/k=5:6|c=7,8"],
                     [["a=1e-3,2e-3", "b=5e3,6e3"], ["a=1e-3,2e-3", "c=7,8"],
                      ["a=3e-3,4e-3", "b=5e3,6e3"], ["a=3e-3,4e-3", "c=7,8"]], id="hydraflow:scaled-pipes"),
        pytest.param(["a=1,2", "b=3,4"], [["a=1,2", "b=3,4"]], id="hydraflow:product"),
    ],
)
def test_original_hydraflow_sub_sweeps_give_the_same_runs(overrides, runs_of_theirs):
    """HydraFlow's expand() gives sub-sweeps of comma lists; their runs are ours."""
    from decimal import Decimal
    from itertools import product

    expected = []
    for sub_sweep in runs_of_theirs:
        axes = [[(o.split("=")[0], Decimal(v)) for v in o.split("=")[1].split(",")] for o in sub_sweep]
        expected += [list(run) for run in product(*axes)]
    got = [[(e.split("=")[0], Decimal(e.split("=")[1])) for e in run] for run in expand(overrides)]
    assert got == expected


@pytest.mark.parametrize(
    "override, hydra_reads",
    [
        pytest.param("key=ab\\ ", ["ab "], id="escaped-trailing-space"),
        pytest.param("a=x\\ ,b", ["x ", "b"], id="escaped-space-before-comma"),
        pytest.param("b=x\\ |y", ["x ", "y"], id="escaped-space-before-pipe"),
        pytest.param("c=(x\\ ,y)z", ["x z", "yz"], id="escaped-space-in-group"),
        pytest.param("key=ab\\\t", ["ab\t"], id="escaped-trailing-tab"),
        pytest.param("key=\\ \\ \\\t", ["  \t"], id="escaped-whitespace-only"),
        pytest.param("key=str(10),5", ["10", 5], id="str-cast-beside-int"),
        pytest.param("key=str(1,2)", ["1", "2"], id="str-cast-of-sweep"),
        pytest.param("key=choice('a b',c,'10')", ["a b", "c", "10"], id="choice-of-strings"),
    ],
)
def test_hydra_reads_the_values_the_override_means(override, hydra_reads):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    got = [parser.parse_override(run[0]).value() for run in expand([override])]
    assert got == hydra_reads
    assert [type(v) for v in got] == [type(v) for v in hydra_reads]
    if "(" not in override and "|" not in override:  # Hydra's own reading of the input agrees
        parsed = parser.parse_override(override)
        theirs = list(parsed.sweep_iterator()) if parsed.is_sweep_override() else [parsed.value()]
        assert theirs == hydra_reads


def test_sort_fix_falls_back_to_hydras_sort_when_the_function_table_moves(monkeypatch):
    """Without the parser's function table (another hydra-core layout), Hydra's own sort() is used."""
    from hydra.core.override_parser import overrides_parser

    from hydraflow_core.syntax import hydra_calls

    original_create = overrides_parser.OverridesParser.create

    def create_without_table(*args, **kwargs):
        parser = original_create(*args, **kwargs)
        parser.functions = type("Moved", (), {"eval": parser.functions.eval})()
        return parser

    monkeypatch.setattr(overrides_parser.OverridesParser, "create", create_without_table)
    hydra_calls.parser_with_fixed_sort.cache_clear()
    try:
        assert values("a=sort(range(0,5,2))") == ["0", "2", "4"]
        assert values("a=sort(3,1,2)") == ["1", "2", "3"]
        assert values("a=range(1,0,-0.1)")[6] == "0.4"  # ranges are still enumerated by hydraflow
    finally:
        monkeypatch.undo()
        hydra_calls.parser_with_fixed_sort.cache_clear()
    assert values("a=sort(range(0,5,2),reverse=true)") == ["4", "2", "0"]  # the fix is back
