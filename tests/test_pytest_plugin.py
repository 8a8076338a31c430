from conftest import mlperf

pytest_plugins = ["pytester"]


def test_plugin_fails_a_test_with_the_violation_table(pytester):
    kws = mlperf("kws_ref_model")
    pytester.makepyfile(f"""
        import pytest
        from firmware_sim import assert_fits

        def test_fits_easily():
            report = assert_fits({str(kws)!r}, device="stm32h743", latency_ms=1000)
            assert report.fits

        def test_too_slow():
            assert_fits({str(kws)!r}, device="stm32h743", latency_ms=0.001)

        @pytest.mark.edgesim_budget({str(kws)!r}, device="stm32h743", ram_kb=16)
        def test_marked_too_big():
            pass

        @pytest.mark.edgesim_budget({str(kws)!r}, device="stm32h743", ram_kb=512)
        def test_marked_fits():
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    text = result.stdout.str()
    assert "does not fit stm32h743" in text
    assert "latency" in text and "exceeds the 0.001 ms deadline" in text
    assert "ram " in text and "exceeds 16384 bytes" in text
    assert "DEPTHWISE_CONV_2D" in text and "weights B" in text     # the per-layer table


def test_marker_failure_is_one_message_with_the_violations_first(pytester):
    kws = mlperf("kws_ref_model")
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.edgesim_budget({str(kws)!r}, device="stm32h743", ram_kb=16)
        def test_marked_too_big():
            pass
    """)
    # -rN: no short summary, which repeats the message in full when CI is set
    result = pytester.runpytest("-p", "no:cacheprovider", "-rN")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert text.count("does not fit stm32h743\nviolations:") == 1
    assert "During handling of the above exception" not in text
