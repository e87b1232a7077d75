"""``albca demo --aws-emulated``: the AWS half of the story, against EMULATED AWS.

moto's server runs on 127.0.0.1 with albca's faithful fakes on every client (trust stores
and listener mTLS, CloudFront origin mTLS, Classic ELB policies). No request leaves the
machine and no AWS account is touched; every step says so. The steps are the commands of
docs/, run through the same functions the CLI uses, each checking its result:

a publish target (a versioned bucket) -> a server certificate from albca on an internal ALB
(the Lambda scenario) -> ``albca alb enable-mtls`` with ALBCA_PUBLISH_TO set: the bundle
published, the trust store created from that exact version with its CRLs, ACTIVE, then the
listener in verify mode (a dry run first; a second run changes nothing) -> status -> a
revocation, and its CRL synced into the trust store -> an HTTPS target group -> Classic ELB
key pinning -> security groups -> .ebextensions -> CloudFront origin mTLS to a second ALB,
verified with the same trust store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.compose.infra import (
    ca_view,
    cloudfront_client_ca,
    server_certificate_for_key,
    server_certificate_issuer,
    signing_certificate,
    trust_store_feed,
    trust_store_manager_for,
)
from albca.compose.services import Services
from albca.emulated_aws.stack import EmulatedAws, start_moto_server
from albca.infra.backend_cert import BackendCertRequest, BackendFiles, ensure_backend_certificate
from albca.infra.calls import Aws
from albca.infra.cert_checks import certificate_body
from albca.infra.classic_elb import pin_backend_key, read_backend_policies
from albca.infra.cloudfront_origin import OriginMtlsRequest, ensure_origin_mtls
from albca.infra.ebextensions import EbRecipe, render_ebextensions, write_ebextensions
from albca.infra.listener_mtls import MtlsSettings, disable_mtls, enable_mtls
from albca.infra.listener_status import ListenerStatus, listener_statuses
from albca.infra.listeners import read_listener
from albca.infra.published_trust_store import PublishedTrustStore
from albca.infra.security_groups import open_backend_port
from albca.infra.server_cert import IssuedServerCertificate, set_listener_certificate
from albca.infra.target_groups import HttpsTargetGroup, ensure_https_target_group
from albca.infra.waiting import Wait
from albca.trust_bundle.revocation_sync import sync_after_revocation

__all__ = ["run_emulated_aws_steps"]

REGION = "us-east-1"
BUCKET = "albca-demo-trust"
PREFIX = "albca"
PUBLISH_TO = f"s3://{BUCKET}/{PREFIX}"
STORE = "albca-demo"
INTERNAL_DOMAIN = "service.internal.albca-demo.example"
_ACTOR = "demo"
_FIXED_200 = {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}
_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"

Say = Callable[[str], None]
Check = Callable[[bool, str, str], None]


@dataclass(frozen=True)
class _Network:
    vpc: str
    subnets: list[str]


def run_emulated_aws_steps(
    say: Say, check: Check, services: Services, workdir: Path, first_step: int
) -> None:
    server, endpoint = start_moto_server()
    try:
        say(f"{first_step}. EMULATED AWS: moto's server on {endpoint} with albca's fakes")
        say("   Nothing below talks to AWS; every call goes to this local emulator.")
        emulated = EmulatedAws(endpoint, region=REGION)
        _Steps(say, check, services, workdir, emulated, first_step + 1).run()
    finally:
        server.stop()
    say("   (emulated AWS stopped)")


class _Steps:
    def __init__(
        self,
        say: Say,
        check: Check,
        services: Services,
        workdir: Path,
        emulated: EmulatedAws,
        number: int,
    ) -> None:
        self.say, self.check, self.services, self.workdir = say, check, services, workdir
        self.emulated = emulated
        self.clients = emulated.clients
        self.number = number
        self.authority = services.authority
        self.polls: list[float] = []  # the waits for ACTIVE (the emulator needs no sleep)
        self.manager = trust_store_manager_for(
            self.authority,
            bucket=BUCKET,
            prefix=PREFIX,
            wait=Wait(seconds=5, interval=0.1, sleep=self.polls.append),
        )

    def step(self, text: str) -> None:
        self.say(f"{self.number}. {text}")
        self.number += 1

    def aws(self, *, dry_run: bool = False) -> Aws:
        return Aws(self.clients, dry_run=dry_run)

    def client(self, service: str) -> Any:
        return self.clients.client(service)

    def trust_store(self) -> PublishedTrustStore:
        """What ``--trust-store albca-demo`` is with ALBCA_PUBLISH_TO set."""
        return PublishedTrustStore(STORE, manager=self.manager, actor=_ACTOR, target=PUBLISH_TO)

    def run(self) -> None:
        network = self._network()
        self._publish_target()
        internal = self._load_balancer("albca-internal", network, internal=True)
        self._server_certificate(internal)
        store_arn = self._mtls(internal)
        self._status(internal)
        self._revocation(internal, store_arn)
        self._backends(network)
        self._cloudfront(network, store_arn)

    # -- the steps -------------------------------------------------------------------

    def _network(self) -> _Network:
        ec2 = self.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = []
        for number, zone in ((1, "a"), (2, "b")):
            subnet = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.0.{number}.0/24", AvailabilityZone=f"{REGION}{zone}"
            )
            subnets.append(subnet["Subnet"]["SubnetId"])
        return _Network(vpc, subnets)

    def _publish_target(self) -> None:
        self.step(f"export ALBCA_PUBLISH_TO={PUBLISH_TO}   (a versioned S3 bucket)")
        # On AWS, `albca aws bootstrap` makes the bucket; here the emulator gets one directly.
        s3 = self.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.say(
            "   the bundle and the CRLs go there; ALB trust stores load exact versions of them"
        )

    def _load_balancer(self, name: str, network: _Network, *, internal: bool) -> dict[str, str]:
        elbv2 = self.client("elbv2")
        balancer = elbv2.create_load_balancer(
            Name=name, Subnets=network.subnets, Scheme="internal" if internal else "internet-facing"
        )["LoadBalancers"][0]
        # Stand-in for the certificate the listener starts with (on AWS: an ACM certificate).
        certificate_arn = _import_stand_in_certificate(self.client("acm"), f"{name}.example")
        listener = elbv2.create_listener(
            LoadBalancerArn=balancer["LoadBalancerArn"],
            Protocol="HTTPS",
            Port=443,
            SslPolicy=_SSL_POLICY,
            Certificates=[{"CertificateArn": certificate_arn}],
            DefaultActions=[_FIXED_200],
        )["Listeners"][0]
        return {
            "arn": balancer["LoadBalancerArn"],
            "dns": balancer["DNSName"],
            "listener": listener["ListenerArn"],
        }

    def _server_certificate(self, alb: dict[str, str]) -> None:
        self.step(f"albca alb server-cert --listener <internal ALB> --domain {INTERNAL_DOMAIN}")
        self.say("   (a Lambda function calls the internal ALB over HTTPS, trusting ca-bundle.pem)")
        source = IssuedServerCertificate(
            domain=INTERNAL_DOMAIN,
            issue=server_certificate_issuer(self.authority, actor=_ACTOR),
            authorities=self.authority.trusted_certificates(),
            signing_ca=signing_certificate(self.authority),
        )
        arn = set_listener_certificate(self.aws(), alb["listener"], source, self.authority.now())
        got = self.client("acm").get_certificate(CertificateArn=arn)
        leaf = x509.load_pem_x509_certificate(got["Certificate"].encode())
        chain = x509.load_pem_x509_certificates(got["CertificateChain"].encode())
        trusted = _verifies(self.authority.trusted_certificates(), leaf, chain, INTERNAL_DOMAIN)
        self.check(
            trusted,
            f"the listener's ACM certificate is albca's, valid for {INTERNAL_DOMAIN} to a "
            "client that trusts only ca-bundle.pem",
            "the listener's certificate does not verify against ca-bundle.pem",
        )

    def _mtls(self, alb: dict[str, str]) -> str:
        self.step(f"albca alb enable-mtls --listener <internal ALB> --trust-store {STORE}")
        settings = MtlsSettings(mode="verify")
        now = self.authority.now()
        dry = self.aws(dry_run=True)
        enable_mtls(dry, alb["listener"], settings, trust_store=self.trust_store(), now=now)
        planned = [a.describe().split(" ", 1)[0] for a in dry.actions]
        nothing_made = not self.client("elbv2").describe_trust_stores()["TrustStores"]
        self.check(
            planned[:2] == ["s3.put_object", "elbv2.create_trust_store"]
            and planned[-1] == "elbv2.modify_listener"
            and nothing_made,
            f"--dry-run plans {len(planned)} calls (publish, create the trust store, its CRLs, "
            "the listener) and makes none",
            f"the dry run planned {planned} or changed AWS",
        )
        aws = self.aws()
        enable_mtls(aws, alb["listener"], settings, trust_store=self.trust_store(), now=now)
        for note in aws.notes:
            self.say(f"   {note}")
        store = self.manager(self.aws()).require_api().get(STORE)
        bundle = store.bundle
        latest = self.client("s3").head_object(Bucket=BUCKET, Key=f"{PREFIX}/ca-bundle.pem")
        made = [a.describe().split(" ", 1)[0] for a in aws.actions]
        self.check(
            bundle is not None
            and bundle.version_id == latest["VersionId"]
            and store.status == "ACTIVE"
            and set(store.crls) == set(self.authority.crl_issuer_key_ids(roots=True)),
            f"trust store {STORE} holds ca-bundle.pem at its exact version and a CRL per CA, "
            f"ACTIVE after {len(self.polls)} poll(s) of CREATING",
            f"trust store {STORE} is not as published: {store}",
        )
        sent = [a for a in aws.actions if "modify_listener" in a.describe()]
        listener = read_listener(self.aws(), alb["listener"])
        self.check(
            listener.mode == "verify"
            and listener.trust_store_arn == store.arn
            and made == planned
            and len(sent) == 1
            and '"SslPolicy"' in sent[0].describe(),
            "the listener verifies client certificates with it; the run made exactly the "
            "calls the dry run printed, and the listener call carried its certificate and SSL "
            "policy",
            f"the listener is in mode {listener.mode}; the run made {made}",
        )
        again = self.aws()
        enable_mtls(again, alb["listener"], settings, trust_store=self.trust_store(), now=now)
        self.check(not again.changed, "a second run changes nothing", "a second run changed AWS")
        off = self.aws(dry_run=True)
        disable_mtls(off, alb["listener"])
        self.check(
            off.changed and read_listener(self.aws(), alb["listener"]).mode == "verify",
            "albca alb disable-mtls --dry-run prints "
            f"{off.actions[0].describe()[:60]}... and changes nothing",
            "the dry run changed the listener",
        )
        return store.arn

    def _listener_status(self, alb: dict[str, str]) -> tuple[ListenerStatus, str]:
        now = self.authority.now()
        aws = self.aws(dry_run=True)
        (status,) = listener_statuses(
            aws, listener_arn=alb["listener"], ca=ca_view(self.authority, now), now=now
        )
        assert status.trust_store is not None
        feed = trust_store_feed(
            aws, status.trust_store.arn, authority=self.authority, publish_to=PUBLISH_TO
        )
        return status, feed.line()

    def _status(self, alb: dict[str, str]) -> None:
        self.step("albca alb status --listener <internal ALB>")
        status, feed = self._listener_status(alb)
        self.say(f"   bundle: {status.bundle}")
        self.say(f"   CRLs:   {status.crls}")
        self.say(f"   albca:  {feed}")
        self.check(
            status.bundle.startswith("current")
            and status.crls.startswith("current")
            and "CRLs in step" in feed,
            "the bundle and the CRLs are current: bob's revocation reached the trust store",
            f"unexpected status: {status.bundle}; {status.crls}; {feed}",
        )

    def _revocation(self, alb: dict[str, str], store_arn: str) -> None:
        self.step("albca issue client --cn carol, then albca revoke <carol's serial>")
        carol = self.authority.issue_with_new_key(
            profile="client", names=RequestedNames.of(common_name="carol"), requested_by=_ACTOR
        )
        self.authority.revoke(carol.serial, RevocationReason.KEY_COMPROMISE, requested_by=_ACTOR)
        status, _ = self._listener_status(alb)
        self.check(
            status.crls.startswith("stale"),
            f"revoked: the trust store does not know it yet ({status.crls.split(';')[0]})",
            f"the CRL state is {status.crls}",
        )
        # What `albca revoke` does next when ALBCA_PUBLISH_TO is set (`albca truststore sync`).
        aws = self.aws()
        manager = self.manager(aws)
        outcome = sync_after_revocation(
            manager.revocation_sync(), actor=_ACTOR, serial=carol.serial
        )
        status, feed = self._listener_status(alb)
        operations = sorted({a.describe().split(" ", 1)[0] for a in aws.actions})
        self.check(
            outcome.synced and status.crls.startswith("current") and "CRLs in step" in feed,
            f"the new CRL went to S3 and into trust store {STORE} ({', '.join(operations)}), "
            f"the old one out: CRLs {status.crls}",
            f"the sync did not bring the trust store in step: {outcome.error or status.crls}",
        )

    def _backends(self, network: _Network) -> None:
        self.step("albca backend cert --dns app.internal --self-signed")
        files = BackendFiles(self.workdir / "backend", "app.internal")
        request = BackendCertRequest(names=RequestedNames.of(dns_names=["app.internal"]),
                                     self_signed=True)  # fmt: skip
        first = ensure_backend_certificate(
            files, request, issue=None, authorities=(), now=self.authority.now()
        )
        second = ensure_backend_certificate(
            files, request, issue=None, authorities=(), now=self.authority.now()
        )
        self.check(
            first.changed and not second.changed,
            f"{files.certificate.name} written; a second run changes nothing",
            "the backend certificate was rewritten on the second run",
        )
        issued = BackendFiles(self.workdir / "backend", "api.internal")
        ensure_backend_certificate(
            issued,
            BackendCertRequest(names=RequestedNames.of(dns_names=["api.internal"])),
            issue=server_certificate_for_key(self.authority, actor=_ACTOR, lifetime=None),
            authorities=self.authority.trusted_certificates(),
            now=self.authority.now(),
        )
        self.say(f"   and {issued.certificate.name}, issued by albca's server profile")

        self.step(
            "albca backend target-group --name app-https --vpc-id <vpc> --health-path /health"
        )
        aws = self.aws()
        summary = ensure_https_target_group(
            aws, HttpsTargetGroup(name="app-https", vpc_id=network.vpc, health_check_path="/health")
        )
        self.say(f"   {summary}")
        self.say("   An ALB does NOT authenticate backend certificates: it encrypts, and accepts")
        self.say(
            "   any certificate a target presents. For authentication, pin keys on a Classic ELB:"
        )

        self.step("albca backend pin --elb albca-classic --port 443 --cert app.internal.crt.pem")
        elb = self.client("elb")
        elb.create_load_balancer(
            LoadBalancerName="albca-classic",
            Listeners=[{"Protocol": "TCP", "LoadBalancerPort": 443,
                        "InstanceProtocol": "SSL", "InstancePort": 443}],
            AvailabilityZones=[f"{REGION}a"],
        )  # fmt: skip
        certificate = x509.load_pem_x509_certificate(files.certificate.read_bytes())
        pin_backend_key(self.aws(), "albca-classic", 443, certificate)
        policies = read_backend_policies(self.aws(), "albca-classic", 443)
        pinned = [policies.all_policies[n] for n in policies.pinned_key_policies()]
        bodies = {p["PolicyAttributeDescriptions"][0]["AttributeValue"] for p in pinned}
        self.check(
            bodies == {certificate_body(certificate)},
            "the Classic ELB accepts only the pinned key on instance port 443",
            f"pinned keys: {len(bodies)}",
        )

        self.step("albca backend open --lb-sg <lb> --instance-sg <app> --port 443")
        ec2 = self.client("ec2")
        lb_group = ec2.create_security_group(
            GroupName="albca-lb", Description="load balancer", VpcId=network.vpc
        )["GroupId"]
        app_group = ec2.create_security_group(
            GroupName="albca-app", Description="instances", VpcId=network.vpc
        )["GroupId"]
        opened = self.aws()
        open_backend_port(opened, lb_group=lb_group, instance_group=app_group, port=443)
        again = self.aws()
        open_backend_port(again, lb_group=lb_group, instance_group=app_group, port=443)
        self.check(
            len(opened.actions) == 2 and not again.changed,
            "ingress and egress added as two rules; a second run changes nothing",
            "the security group rules were not added once",
        )

        self.step("albca backend ebextensions --cert app.internal.crt.pem --out .ebextensions")
        out = self.workdir / ".ebextensions"
        written = write_ebextensions(
            out, render_ebextensions(EbRecipe(certificate=certificate)), force=False
        )
        self.check(
            "https-backendauth.config" in written,
            f"wrote {', '.join(written)}",
            "no .ebextensions were written",
        )

    def _cloudfront(self, network: _Network, store_arn: str) -> None:
        self.step("albca cloudfront origin-mtls --distribution <id> --origin alb "
                  f"--trust-store {STORE}")  # fmt: skip
        alb = self._load_balancer("albca-public", network, internal=False)
        distribution = self.client("cloudfront").create_distribution(
            DistributionConfig=_distribution_config(alb["dns"])
        )["Distribution"]["Id"]
        ca = cloudfront_client_ca(self.authority, key_spec=None, actor=_ACTOR)
        aws = self.aws()
        ensure_origin_mtls(
            aws,
            OriginMtlsRequest(distribution, "alb", deploy_wait=Wait(seconds=5, interval=0.1)),
            ca,
            trust_store=self.trust_store(),
            now=self.authority.now(),
        )
        store_calls = [a for a in aws.actions if "trust_store" in a.describe().split(" ", 1)[0]]
        config = self.client("cloudfront").get_distribution_config(Id=distribution)
        origin = config["DistributionConfig"]["Origins"]["Items"][0]["CustomOriginConfig"]
        arn = origin.get("OriginMtlsConfig", {}).get("ClientCertificateArn", "")
        listener = read_listener(self.aws(), alb["listener"])
        self.check(
            arn.startswith("arn:aws:acm:us-east-1:")
            and listener.mode == "verify"
            and listener.trust_store_arn == store_arn
            and not store_calls,
            f"distribution {distribution} presents {arn.rsplit('/', 1)[-1]} from ACM us-east-1; "
            f"the ALB verifies it with trust store {STORE}, already in step",
            "CloudFront origin mTLS is not in place",
        )


def _distribution_config(domain: str) -> dict[str, Any]:
    return {
        "CallerReference": "albca-demo",
        "Comment": "albca demo (emulated)",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "alb",
                    "DomainName": domain,
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "https-only",
                    },
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "alb",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",  # Managed-CachingOptimized
        },
    }


def _import_stand_in_certificate(acm: Any, name: str) -> str:
    """A self-signed certificate in the emulated ACM, standing in for a public one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    arn: str = acm.import_certificate(
        Certificate=certificate.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )["CertificateArn"]
    return arn


def _verifies(
    bundle: list[x509.Certificate],
    leaf: x509.Certificate,
    chain: list[x509.Certificate],
    name: str,
) -> bool:
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(bundle))
        .time(datetime.now(UTC))
        .build_server_verifier(x509.DNSName(name))
    )
    try:
        verifier.verify(leaf, chain)
    except verification.VerificationError:
        return False
    return True
