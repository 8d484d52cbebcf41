"""Dns: the platform's name on the internet and its TLS certificate.

Looks up (or creates) the Route53 hosted zone, requests an ACM certificate for the base domain and its
wildcard validated through DNS, and, once the edge's load balancer exists, points the base domain itself,
its wildcard and `grafana.<base>` at it with alias records (the NLB's hostname read from the edge's
Service, its canonical hosted zone looked up for the region: no hard-coded zone ids). A zone it creates
gives its name servers, to enter at the registrar.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s


@dataclass
class DnsArgs:
    zone_name: str
    subdomain: str | None = None
    create_zone: bool = False
    protect: bool = False
    region: str | None = None  # of the edge's load balancer (None: the provider's)

    @property
    def base_domain(self) -> str:
        return f"{self.subdomain}.{self.zone_name}" if self.subdomain else self.zone_name


class Dns(pulumi.ComponentResource):
    certificate_validation: aws.acm.CertificateValidation

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:dns:Dns", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.base_domain = args.base_domain
        self.name_servers: pulumi.Input = "none: the zone exists already (eks-platform:dns.createZone is false)"
        if args.create_zone:
            zone = aws.route53.Zone(f"{name}-zone", name=args.zone_name, force_destroy=False,
                                    opts=pulumi.ResourceOptions(parent=self, protect=args.protect))
            self.zone_id, self.name_servers = zone.zone_id, zone.name_servers
        else:
            self.zone_id = aws.route53.get_zone_output(
                name=args.zone_name, private_zone=False, opts=pulumi.InvokeOutputOptions(parent=self)).zone_id

        self.certificate = aws.acm.Certificate(
            f"{name}-tls", domain_name=self.base_domain, subject_alternative_names=[f"*.{self.base_domain}"],
            validation_method="DNS", opts=child,
        )
        option = self.certificate.domain_validation_options[0]
        validation_record = aws.route53.Record(
            f"{name}-tls-validation", zone_id=self.zone_id, name=option.resource_record_name,
            type=option.resource_record_type, records=[option.resource_record_value], ttl=300,
            allow_overwrite=True, opts=child,
        )
        self.certificate_validation = aws.acm.CertificateValidation(
            f"{name}-tls", certificate_arn=self.certificate.arn, validation_record_fqdns=[validation_record.fqdn],
            opts=child,
        )
        self.certificate_arn = self.certificate_validation.certificate_arn
        self.certificate_ready: pulumi.Resource = self.certificate_validation
        self._region = args.region
        self.register_outputs({"baseDomain": self.base_domain, "certificateArn": self.certificate.arn})

    def publish(self, service: str, edge_ready: pulumi.Resource, grafana: bool) -> None:
        """`components.capabilities.Dns`: the records, once the edge's Service has its load balancer."""
        self.point_at_load_balancer(self._region, service, edge_ready, grafana)

    def point_at_load_balancer(self, region: str | None, service: str, ingress: pulumi.Resource,
                               grafana: bool = False) -> None:
        """Alias `<base>`, `*.<base>` and (when Grafana is published) `grafana.<base>` to the load balancer of
        the Service `namespace/name`."""
        lb = k8s.core.v1.Service.get(f"{self._name}-ingress-lb", service,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[ingress]))
        hostname = lb.status.load_balancer.ingress[0].hostname
        lb_zone = aws.lb.get_hosted_zone_id_output(load_balancer_type="network", region=region,
                                                   opts=pulumi.InvokeOutputOptions(parent=self)).id
        for label, resource in (("*", "wildcard"), *([("grafana", "grafana")] if grafana else []), ("", "apex")):
            aws.route53.Record(
                f"{self._name}-{resource}", zone_id=self.zone_id,
                name=f"{label}.{self.base_domain}" if label else self.base_domain, type="A",
                aliases=[{"name": hostname, "zone_id": lb_zone, "evaluate_target_health": True}],
                opts=pulumi.ResourceOptions(parent=self),
            )
