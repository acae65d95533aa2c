"""Pure rules of station maintenance: firmware jobs and campaigns, log requests and upload file
names, password generation, security-profile upgrades and network-profile slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from central_system.domain import firmware as fw
from central_system.domain import log_uploads as logs
from central_system.domain import security_flows as sec
from central_system.domain.stations import SecurityProfile

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = fw.RetryPolicy(retries=1, interval=timedelta(minutes=5))


def job(**kw: object) -> fw.FirmwareJob:
    values: dict[str, object] = {"id": 7, "campaign_id": 1, "station_id": "CP-1"}
    values.update(kw)
    return fw.FirmwareJob(**values)  # type: ignore[arg-type]


def test_a_job_is_sent_answered_and_followed_to_installed() -> None:
    sent = fw.sent(job(), NOW)
    assert (sent.status, sent.attempts, sent.in_progress) == ("Sent", 1, True)
    accepted = fw.answered(sent, None, POLICY, NOW)  # 1.6 UpdateFirmware has no status
    assert accepted.status == "Accepted"
    downloading = fw.reported(accepted, "Downloading", POLICY, NOW)
    assert downloading.status == "Downloading"
    assert fw.reported(downloading, "Idle", POLICY, NOW) == downloading
    installed = fw.reported(downloading, "Installed", POLICY, NOW)
    assert installed.terminal and installed.status == "Installed"
    assert fw.reported(installed, "InstallationFailed", POLICY, NOW) == installed  # late report


def test_failures_are_retried_until_the_retries_are_used_up() -> None:
    first = fw.reported(
        fw.answered(fw.sent(job(), NOW), "Accepted", POLICY, NOW), "DownloadFailed", POLICY, NOW
    )
    assert (first.status, first.next_attempt_at, first.last_error) == (
        "Pending",
        NOW + timedelta(minutes=5),
        "DownloadFailed",
    )
    assert not fw.due(first, NOW) and fw.due(first, NOW + timedelta(minutes=5))
    second = fw.answered(fw.sent(first, NOW), "Rejected", POLICY, NOW)
    assert (second.status, second.attempts, second.last_error) == ("Failed", 2, "Rejected")


def test_certificate_refusals_fail_at_once_and_offline_uses_no_attempt() -> None:
    refused = fw.answered(fw.sent(job(), NOW), "RevokedCertificate", POLICY, NOW)
    assert (refused.status, refused.attempts) == ("Failed", 1)
    offline = fw.not_delivered(fw.sent(job(), NOW), "offline", POLICY, NOW, offline=True)
    assert (offline.status, offline.attempts, offline.next_attempt_at) == ("Pending", 0, None)
    timeout = fw.not_delivered(fw.sent(job(), NOW), "no answer", POLICY, NOW, offline=False)
    assert (timeout.status, timeout.attempts) == ("Pending", 1)


def test_an_answer_after_a_progress_report_changes_nothing() -> None:
    progressed = fw.reported(fw.sent(job(), NOW), "Downloading", POLICY, NOW)
    assert fw.answered(progressed, "Accepted", POLICY, NOW) == progressed


def test_reports_find_their_job_and_campaigns_finish() -> None:
    jobs = [job(id=1, status="Installed"), job(id=2, status="Downloading"), job(id=3)]
    assert fw.job_for_report(jobs, 3) == jobs[2]
    assert fw.job_for_report(jobs, None) == jobs[1]  # 1.6: the one in progress
    assert fw.job_for_report(jobs, 99) is None
    running = fw.CampaignStatus.RUNNING
    assert fw.campaign_status(running, jobs) is running
    done = [job(id=1, status="Installed"), job(id=2, status="Failed")]
    assert fw.campaign_status(running, done) is fw.CampaignStatus.FINISHED
    cancelled = fw.CampaignStatus.CANCELLED
    assert fw.campaign_status(cancelled, jobs) is cancelled


def test_firmware_requests_and_checksums_are_checked() -> None:
    fw.validate_request(fw.FirmwareRequest("https://x.example/fw.bin", NOW))
    with pytest.raises(ValueError, match="URL"):
        fw.validate_request(fw.FirmwareRequest("fw.bin", NOW))
    with pytest.raises(ValueError, match="both"):
        fw.validate_request(fw.FirmwareRequest("https://x.example/fw.bin", NOW, signature="s"))
    assert fw.valid_checksum("9e107d9d372bb6826bd81d3542a419d6")
    assert not fw.valid_checksum("9e107d9d372bb6826bd81d3542a419dz")


def request(**kw: object) -> logs.LogRequest:
    values: dict[str, object] = {
        "id": 3,
        "station_id": "CP-1",
        "log_type": logs.LogType.DIAGNOSTICS,
        "upload_token": "t" * 43,
        "status": "Accepted",
        "requested_at": NOW,
    }
    values.update(kw)
    return logs.LogRequest(**values)  # type: ignore[arg-type]


def test_log_request_answers_and_reports() -> None:
    assert logs.status_after_answer(logs.LogType.DIAGNOSTICS, None, "d.zip") == "Accepted"
    assert logs.status_after_answer(logs.LogType.DIAGNOSTICS, None, None) == "NoFile"
    assert logs.status_after_answer(logs.LogType.SECURITY_LOG, "AcceptedCanceled", None) == (
        "Accepted"
    )
    assert logs.status_after_answer(logs.LogType.SECURITY_LOG, "Rejected", None) == "Rejected"
    assert logs.status_after_report(request(), "Uploading") == "Uploading"
    assert logs.status_after_report(request(status="Rejected"), "Uploaded") == "Rejected"
    arrived = request(status="Uploaded", uploaded_at=NOW)
    assert logs.status_after_report(arrived, "UploadFailure") == "Uploaded"
    assert not arrived.accepts_upload and request().accepts_upload


def test_reports_without_request_id_find_the_newest_open_request_of_their_kind() -> None:
    diag_old, diag_new = request(id=1), request(id=2)
    security = request(id=3, log_type=logs.LogType.SECURITY_LOG)
    found = logs.request_for_report([diag_old, diag_new, security], None, diagnostics=True)
    assert found == diag_new
    assert logs.request_for_report([diag_old, security], None, diagnostics=False) == security
    assert logs.request_for_report([diag_old], 1, diagnostics=False) == diag_old


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("diag.zip", "diag.zip"),
        ("../../etc/passwd", "passwd"),
        ("C:\\logs\\station log.txt", "station_log.txt"),
        ("..", "fallback"),
        (None, "fallback"),
    ],
)
def test_upload_file_names_are_made_safe(name: str | None, expected: str) -> None:
    assert logs.safe_file_name(name, "fallback") == expected


def test_passwords_and_profile_upgrades() -> None:
    password = sec.password_from_entropy(bytes(range(32)))
    assert password == bytes(range(20)).hex() and len(password) == 40
    with pytest.raises(ValueError, match="random bytes"):
        sec.password_from_entropy(b"short")
    basic, tls, mtls = (
        SecurityProfile.BASIC_AUTH,
        SecurityProfile.TLS_BASIC_AUTH,
        SecurityProfile.TLS_CLIENT_CERTIFICATE,
    )
    ok = {"has_password": True, "tls_available": True, "client_ca_available": True}
    assert sec.upgrade_problem(basic, tls, **ok) is None
    assert "higher" in (sec.upgrade_problem(tls, basic, **ok) or "")
    assert "password" in (
        sec.upgrade_problem(SecurityProfile.NONE, tls, **(ok | {"has_password": False})) or ""
    )
    assert "TLS" in (sec.upgrade_problem(basic, tls, **(ok | {"tls_available": False})) or "")
    assert "client" in (
        sec.upgrade_problem(tls, mtls, **(ok | {"client_ca_available": False})) or ""
    )
    pending = sec.ProfileUpgrade(tls, sec.UpgradeState.PENDING)
    done = sec.ProfileUpgrade(tls, sec.UpgradeState.COMPLETED)
    assert sec.pending_upgrade([pending]) is tls
    assert sec.pending_upgrade([pending, done]) is None
    assert sec.ProfileUpgrade.from_data(pending.as_data()) == pending


def test_network_profile_slots_and_certificate_names() -> None:
    assert sec.next_configuration_slot("1,3") == 4
    assert sec.next_configuration_slot(None) == 1
    assert sec.next_configuration_slot("1", requested=2) == 2
    assert sec.new_priority("1,3", 4) == "4,1,3"
    assert sec.new_priority("1,3", 3) == "3,1"
    root = sec.CertificateUse.CSMS_ROOT
    assert root.wire(ocpp16=True) == "CentralSystemRootCertificate"
    assert sec.CertificateUse.parse("CentralSystemRootCertificate") is root
    with pytest.raises(ValueError, match="stations hold no"):
        sec.CertificateUse.V2G_ROOT.wire(ocpp16=True)
    with pytest.raises(ValueError, match="hashAlgorithm"):
        sec.CertificateHashData("MD5", "a", "b", "01")
