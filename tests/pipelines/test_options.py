"""Beam options of the project's pipelines: unknown options are errors, not warnings; bundles run in
this process end without waiting out a long state-sampling period."""
import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.worker import statesampler
from apache_beam.testing.util import assert_that, equal_to

from pipelines.options import LOCAL_STATE_SAMPLING_MS, UnknownOptionError, check_options, pipeline_options


def test_an_option_neither_the_command_nor_beam_knows_is_an_error_with_a_suggestion():
    with pytest.raises(UnknownOptionError, match=r"^preprocess: unknown option --crop-per-image.*"
                                                 r"did you mean --crops-per-image"):
        check_options(["--crop-per-image", "3"], ["--crops-per-image", "--input"], "preprocess")
    with pytest.raises(UnknownOptionError, match="did you mean --direct_num_workers"):
        pipeline_options(["--direct_num_worker=2"])
    assert pipeline_options(["--experiments=x", "--runner", "DirectRunner"]).view_as(StandardOptions).runner == "DirectRunner"


def _running_bundles_sampling_period(_) -> int:
    return statesampler.get_current_tracker().sampling_period_ms


@pytest.mark.slow
def test_local_bundles_sample_their_state_often_so_a_long_stage_ends_with_its_last_element():
    assert LOCAL_STATE_SAMPLING_MS < statesampler.DEFAULT_SAMPLING_PERIOD_MS
    with beam.Pipeline(options=pipeline_options(["--direct_num_workers", "2"])) as p:
        periods = p | beam.Create(range(4)) | beam.Map(_running_bundles_sampling_period)
        assert_that(periods, equal_to([LOCAL_STATE_SAMPLING_MS] * 4))
