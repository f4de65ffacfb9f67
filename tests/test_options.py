"""Beam options of the project's pipelines: unknown options are errors, not warnings."""
import pytest
from apache_beam.options.pipeline_options import StandardOptions

from pipelines.options import UnknownOptionError, check_options, pipeline_options


def test_an_option_neither_the_command_nor_beam_knows_is_an_error_with_a_suggestion():
    with pytest.raises(UnknownOptionError, match=r"^preprocess: unknown option --crop-per-image.*"
                                                 r"did you mean --crops-per-image"):
        check_options(["--crop-per-image", "3"], ["--crops-per-image", "--input"], "preprocess")
    with pytest.raises(UnknownOptionError, match="did you mean --direct_num_workers"):
        pipeline_options(["--direct_num_worker=2"])
    assert pipeline_options(["--experiments=x", "--runner", "DirectRunner"]).view_as(StandardOptions).runner == "DirectRunner"
