"""eks-platform: load the stack's configuration, build the platform, export its outputs."""

import sys

import pulumi

from stacks.config import load, read_pulumi_config
from stacks.platform import build
from stacks.problems import ConfigError

raw, region = read_pulumi_config()
try:
    settings = load(pulumi.get_stack(), raw, region)
except ConfigError as error:
    pulumi.log.error(str(error))
    sys.exit(1)

for key, value in build(settings).items():
    pulumi.export(key, value)
