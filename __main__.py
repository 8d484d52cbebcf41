"""eks-platform: load the stack's configuration, build the platform, export its outputs."""

import sys

import pulumi

from ops.stackfiles import account_sharing_warnings
from stacks.config import load_raw, read_pulumi_config
from stacks.platform import build
from stacks.problems import ConfigError

try:
    settings = load_raw(pulumi.get_stack(), read_pulumi_config())
except ConfigError as error:
    pulumi.log.error(str(error))
    sys.exit(1)

for warning in account_sharing_warnings(settings):
    pulumi.log.warn(warning)
for key, value in build(settings).items():
    pulumi.export(key, value)
