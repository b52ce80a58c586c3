"""Property tests: hydraflow is a strict superset of Hydra's sweep syntax, its
counts agree with its expansions, its ranges are exact, and nothing but
SweepSyntaxError ever escapes the parser."""

from __future__ import annotations

from decimal import Decimal

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hydraflow_core import SweepSyntaxError, count, expand

PARSER = OverridesParser.create()

# --- plain Hydra overrides (none of the extended forms) ---------------------

ident = st.from_regex(r"[a-z][a-z0-9_]{0,4}", fullmatch=True)
integer = st.integers(-999, 999).map(str)
decimal = st.builds(lambda i, f: f"{i}.{f}", st.integers(-99, 99), st.integers(0, 999))
exponent = st.builds(lambda m, e: f"{m}e{e}", st.integers(1, 9), st.integers(-5, 5))
quoted = st.text(alphabet="ab ,:|()=", max_size=5).map(lambda s: f"'{s}'")
interpolation = ident.map(lambda s: "${" + s + "}")
primitive = st.one_of(integer, decimal, exponent, ident, quoted, interpolation)
listing = st.lists(primitive, min_size=0, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
element = st.one_of(primitive, primitive, listing)
elements = st.lists(element, min_size=2, max_size=4).map(",".join)
hydra_range = st.builds(
    lambda a, n, s: f"range({a},{a + n},{s})", st.integers(-5, 5), st.integers(0, 6), st.integers(1, 3)
)
hydra_choice = st.lists(element, min_size=1, max_size=3).map(lambda xs: f"choice({','.join(xs)})")
hydra_sort = st.lists(integer, min_size=1, max_size=4).map(lambda xs: f"sort({','.join(xs)})")
value = st.one_of(element, elements, hydra_range, hydra_choice, hydra_sort)
key = st.builds(lambda p, k: p + k, st.sampled_from(["", "", "+", "++"]), st.sampled_from(["a", "b", "c", "d.e"]))
plain_override = st.builds(lambda k, v: f"{k}={v}", key, value)


def hydra_runs(overrides):
    parsed = PARSER.parse_overrides(overrides)
    return [run for batch in BasicSweeper.split_arguments(parsed, None) for run in batch]


def meaning(run):
    """What Hydra reads from each override of a run: (key, value)."""
    out = []
    for text in run:
        override = PARSER.parse_override(text)
        out.append((override.get_key_element(), override.value()))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(plain_override, min_size=1, max_size=4))
def test_plain_hydra_overrides_give_the_same_runs_as_basic_sweeper(overrides):
    expected = [meaning(run) for run in hydra_runs(overrides)]
    got = [meaning(run) for run in expand(overrides)]
    assert got == expected
    assert count(overrides) == len(expected)


# --- extended expressions: count == len(expand) ------------------------------
# Every generated expression is valid: count() must never raise, so the property
# is tested on every example (pieces of a multi-piece item are each wrapped in
# '( )', so that '1:3' next to '2' never reads as the range '1:32', and 'ab'
# next to '(x)' never reads as a call 'ab(x)').

number = st.one_of(st.integers(-20, 20).map(str), st.sampled_from(["0.5", "1.5", "2", "1m", "3m", "1k"]))
range_text = st.one_of(
    st.builds(lambda a, n: f"{a}:{a + n}", st.integers(-5, 5), st.integers(0, 5)),
    st.builds(lambda a, n, s: f"{a}:{a + n * s}:{s}", st.integers(-5, 5), st.integers(0, 5), st.integers(1, 3)),
    st.builds(lambda a, n, s: f"{a + n * s}:{a}:-{s}", st.integers(-5, 5), st.integers(1, 5), st.integers(1, 3)),
    st.builds(lambda a, n: f"{a}:{a + 1}:#{n}", st.integers(-5, 5), st.integers(2, 5)),
    st.builds(lambda e: f"1:{10 ** e}:*10", st.integers(0, 4)),
    st.builds(lambda a, n, s: f"{a}m:{a + n * s}m:{s}", st.integers(1, 5), st.integers(0, 4), st.integers(1, 2)),
    st.builds(lambda a, n, x: f"{a}:{a + n}:{x}", st.integers(-5, 5), st.integers(0, 4), st.sampled_from(["k", "m", "e2", "E-3"])),
    st.builds(lambda a, x: f"{a}:{x}", st.integers(-5, 5), st.sampled_from(["k", "M", "e3"])),
)
atom = st.one_of(ident, number)


def _sweeps(children):
    piece = st.one_of(children.map(lambda s: f"({s})"), children.map(lambda s: f"({s})k"), atom, range_text)
    item = st.lists(piece, min_size=1, max_size=2).map(
        lambda pieces: pieces[0] if len(pieces) == 1 else "".join(f"({p})" for p in pieces))
    return st.lists(item, min_size=1, max_size=3).map(",".join)


extended_sweep = st.recursive(st.one_of(atom, range_text), _sweeps, max_leaves=4)
extended_value = st.lists(extended_sweep, min_size=1, max_size=3).map("|".join)
extended_overrides = st.lists(
    st.tuples(st.sampled_from(["a", "b", "lr/m", "+c"]), extended_value), min_size=1, max_size=3,
    unique_by=lambda kv: kv[0],  # a key set in a '|' section may not be set again
).map(lambda kvs: [f"{k}={v}" for k, v in kvs])


@settings(max_examples=300, deadline=None)
@given(extended_overrides)
def test_count_equals_length_of_expansion(overrides):
    total = count(overrides)  # never raises: every generated expression is valid
    event("expanded" if total <= 100000 else "too many runs to expand")
    if total <= 100000:
        assert len(list(expand(overrides))) == total


def test_count_property_expands_nearly_every_example():
    """The property above really runs: at most 2% of its examples are too big to expand."""
    seen = {"expanded": 0, "skipped": 0}

    @settings(max_examples=300, deadline=None, database=None)
    @given(extended_overrides)
    def sample(overrides):
        seen["expanded" if count(overrides) <= 100000 else "skipped"] += 1

    sample()
    assert seen["skipped"] <= 0.02 * (seen["expanded"] + seen["skipped"])


# --- Hydra's plain text: checked without Hydra's parser -----------------------

@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aZ0_-/+.$%*@?| \t:e1", min_size=1, max_size=12))
def test_plain_text_fast_path_agrees_with_hydra(text):
    from hydraflow_core.syntax.hydra_bridge import PLAIN_TEXT, hydra_error

    assert PLAIN_TEXT.fullmatch(text)
    assert hydra_error(f"a={text}") is None  # Hydra accepts every text the fast path lets through


# --- ranges are exact ----------------------------------------------------------

exact_decimal = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
positive_step = st.decimals(min_value=Decimal("0.001"), max_value=50, places=3)


@settings(max_examples=400, deadline=None)
@given(exact_decimal, positive_step, st.integers(0, 40), st.booleans())
def test_ranges_include_both_bounds_and_are_exact(start, step, steps, down):
    if down:
        step = -step
    stop = start + steps * step
    got = [run[0].split("=", 1)[1] for run in expand([f"a={start}:{stop}:{step}"])]
    assert len(got) == steps + 1
    # Every value is exactly start + i*step: no binary-float artefact, nothing lost or added.
    assert [Decimal(v) for v in got] == [start + i * step for i in range(steps + 1)]
    assert Decimal(got[0]) == start and Decimal(got[-1]) == stop
    # Written with a point (places=3), the range is typed as Hydra's range() is: all floats.
    assert all(isinstance(PARSER.parse_override(f"a={v}").value(), float) for v in got)
    assert all(PARSER.parse_override(f"a={v}").value() == float(v) for v in got)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 999), st.integers(1, 999), st.sampled_from("fpnumkMGT"))
def test_si_scaled_values_are_exact(a, b, letter):
    from hydraflow_core.syntax.numbers import SI_LETTERS

    lo, hi = min(a, b), max(a, b)
    got = [run[0].split("=", 1)[1] for run in expand([f"a={lo}:{hi}:{letter}"])]
    assert [Decimal(v) for v in got] == [i * SI_LETTERS[letter] for i in range(lo, hi + 1)]


# --- fuzz: random text raises nothing but SweepSyntaxError ------------------------

FUZZ_ALPHABET = "ab19:0,()|=*#.-+ 'e\"[]{}$\\/@~kmM_xµ\t"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=FUZZ_ALPHABET, max_size=16), st.booleans())
def test_fuzz_only_sweep_syntax_errors(text, with_key):
    overrides = [f"a={text}" if with_key else text]
    try:
        total = count(overrides, max_values=2000)
    except SweepSyntaxError as error:
        assert str(error).splitlines()[0].endswith(" in override")
        return
    if total <= 2000:
        assert len(list(expand(overrides, max_values=2000))) == total
