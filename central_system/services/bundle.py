"""The services one central-system process runs, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from central_system.services.authorization import AuthorizationService
from central_system.services.certificates import CertificateService
from central_system.services.costs import CostService
from central_system.services.customer_data import CustomerDataService
from central_system.services.data_transfer import DataTransferService
from central_system.services.device_model import DeviceModelService
from central_system.services.firmware import FirmwareService
from central_system.services.load_management import LoadManagementService
from central_system.services.local_lists import LocalListService
from central_system.services.log_uploads import LogUploadService
from central_system.services.remote_control import RemoteControlService
from central_system.services.security import SecurityService
from central_system.services.smart_charging import SmartChargingService
from central_system.services.station_reservations import StationReservationService
from central_system.services.stations import StationService
from central_system.services.transactions import TransactionService


@dataclass(frozen=True, slots=True)
class Services:
    stations: StationService
    authorization: AuthorizationService
    transactions: TransactionService
    data_transfer: DataTransferService
    certificates: CertificateService
    local_lists: LocalListService
    device_model: DeviceModelService
    station_reservations: StationReservationService
    remote_control: RemoteControlService
    firmware: FirmwareService
    log_uploads: LogUploadService
    security: SecurityService
    smart_charging: SmartChargingService
    load_management: LoadManagementService
    costs: CostService
    customer_data: CustomerDataService
