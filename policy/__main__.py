"""The policy pack run by `pulumi preview --policy-pack policy`."""

from pulumi_policy import PolicyPack

from policies import all_policies

PolicyPack(name="eks-platform", policies=list(all_policies()))
