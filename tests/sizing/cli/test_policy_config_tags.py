"""The policy config's type tags are derived from the builder table and match the models."""

from typing import get_args

from levguard.config.policies import _CLASSES, _TYPE_TAGS, PolicyConfig


def test_type_tags_are_the_discriminators_of_policy_config() -> None:
    members = get_args(get_args(PolicyConfig)[0])
    tags = {get_args(m.model_fields["type"].annotation)[0] for m in members}
    assert tags == _TYPE_TAGS


def test_every_tag_but_composite_has_a_class() -> None:
    assert _TYPE_TAGS - set(_CLASSES) == {"composite"}
