"""DNS and TLS: certificate and its validation, TLS at the NLB, alias records, Grafana's host."""

from __future__ import annotations

import pytest

from tests.conftest import run_stack, stack_variant
from tests.k8s import release, values

RECORD = "aws:route53/record:Record"


def test_certificate_covers_base_domain_and_wildcard_validated_by_dns(prod):
    certificate = prod.one("aws:acm/certificate:Certificate", "acme-prod-tls").inputs
    assert certificate["domainName"] == "prod.example.com"
    assert certificate["subjectAlternativeNames"] == ["*.prod.example.com"]
    assert certificate["validationMethod"] == "DNS"
    validation_record = prod.one(RECORD, "acme-prod-tls-validation").inputs
    assert validation_record["zoneId"] == "Z0MOCKZONE"
    assert (validation_record["type"], validation_record["records"]) == ("CNAME", ["_x2.acm-validations.aws."])
    validation = prod.one("aws:acm/certificateValidation:CertificateValidation").inputs
    assert validation["validationRecordFqdns"] == ["_x1.prod.example.com"]


def test_ingress_waits_for_the_validated_certificate_and_terminates_tls_at_the_nlb(prod):
    validation = prod.one("aws:acm/certificateValidation:CertificateValidation")
    assert prod.one("eks-platform:ingress:Ingress").depends_on(validation)
    controller = values(prod, "ingress-nginx")["controller"]
    annotations = controller["service"]["annotations"]
    certificate = prod.one("aws:acm/certificate:Certificate", "acme-prod-tls")
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"] == certificate.outputs["arn"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-ports"] == "https"
    assert controller["service"]["targetPorts"] == {"http": "tohttps", "https": "http"}
    assert controller["containerPort"]["tohttps"] == 2443
    assert "listen 2443" in controller["config"]["http-snippet"]
    assert "return 308 https://$host$request_uri" in controller["config"]["http-snippet"]


def test_alias_records_point_at_the_nlb_read_from_the_controller_service(prod):
    service = prod.one("kubernetes:core/v1:Service", "acme-prod-ingress-lb")
    assert service.read and service.inputs["id"] == "ingress-nginx/ingress-nginx-controller"
    assert service.depends_on(release(prod, "ingress-nginx"))
    hostname = service.outputs["status"]["loadBalancer"]["ingress"][0]["hostname"]
    records = {r.inputs["name"]: r.inputs for r in prod.of_type(RECORD) if r.name != "acme-prod-tls-validation"}
    assert set(records) == {"*.prod.example.com", "prod.example.com"}  # Grafana is not published in prod
    published = stack_variant("prod", grafana={"allowedCidrs": ["198.51.100.0/24"]})
    assert "grafana.prod.example.com" in {r.inputs["name"] for r in published.of_type(RECORD)}
    for record in records.values():
        assert record["type"] == "A" and record["zoneId"] == "Z0MOCKZONE"
        assert record["aliases"] == [{"name": hostname, "zoneId": "Z26RNL4JYFTOTI", "evaluateTargetHealth": True}]


def test_grafana_is_published_only_to_the_allowed_cidrs_after_the_ingress_controller():
    evaluation = run_stack("prod", grafana={"allowedCidrs": ["198.51.100.0/24", "192.0.2.10/32"]})
    grafana = values(evaluation, "kube-prometheus-stack")["grafana"]
    assert "ingress" not in grafana
    assert grafana["grafana.ini"] == {"server": {"root_url": "https://grafana.prod.example.com"}}
    route = evaluation.one("kubernetes:networking.k8s.io/v1:Ingress").inputs
    assert route["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/whitelist-source-range": "198.51.100.0/24,192.0.2.10/32"}
    (rule,) = route["spec"]["rules"]
    assert rule["host"] == "grafana.prod.example.com" and route["spec"]["ingressClassName"] == "nginx"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "kube-prometheus-stack-grafana",
                                                               "port": {"number": 80}}
    assert evaluation.one("kubernetes:networking.k8s.io/v1:Ingress").depends_on(release(evaluation, "ingress-nginx"))
    assert not release(evaluation, "kube-prometheus-stack").depends_on(release(evaluation, "ingress-nginx"))
    assert evaluation.outputs["grafanaUrl"] == "https://grafana.prod.example.com"


def test_grafana_is_private_by_default_even_with_dns(prod):
    assert not prod.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert prod.outputs["baseDomain"] == "prod.example.com"
    assert prod.outputs["grafanaUrl"].startswith("none: kubectl port-forward")


def test_without_dns_nothing_is_created_and_the_plan_says_so(dev):
    dns_types = {"aws:acm/certificate:Certificate", "aws:acm/certificateValidation:CertificateValidation", RECORD,
                 "aws:route53/zone:Zone", "eks-platform:dns:Dns"}
    assert not [r for r in dev.registrations if r.type in dns_types]
    assert dev.outputs["baseDomain"] == "none: no dns block configured"
    controller = values(dev, "ingress-nginx")["controller"]
    assert "service.beta.kubernetes.io/aws-load-balancer-ssl-cert" not in controller["service"]["annotations"]
    assert not dev.of_type("kubernetes:networking.k8s.io/v1:Ingress")


@pytest.mark.parametrize("stack, protect", [("dev", False), ("prod", True)])
def test_created_zone_is_protected_in_prod(stack, protect):
    evaluation = run_stack(stack, dns={"zoneName": "example.org", "createZone": True})
    zone = evaluation.one("aws:route53/zone:Zone")
    assert zone.inputs["name"] == "example.org" and zone.protect is protect
    assert evaluation.outputs["baseDomain"] == "example.org"
    assert {r.inputs["zoneId"] for r in evaluation.of_type(RECORD)} == {"Z0CREATED"}
    assert evaluation.outputs["nameServers"] == ["ns-1.awsdns-01.org", "ns-2.awsdns-02.net"]
    assert evaluation.one(RECORD, "acme-" + stack + "-apex").inputs["name"] == "example.org"


def test_bad_dns_config_is_rejected():
    evaluation = run_stack("dev", dns={"zoneName": "Example..com", "subdomain": "-dev", "createzone": True})
    problems = {p.path for p in evaluation.error.problems}
    assert {"dns.zoneName", "dns.subdomain", "dns.createzone"} <= problems
