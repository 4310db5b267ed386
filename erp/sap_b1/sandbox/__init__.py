"""A local stand-in for the SAP Business One Service Layer, for demos and tests."""
from erp.sap_b1.sandbox.app import BP_PROPERTIES, USER_FIELDS, SandboxError, SapB1Sandbox

__all__ = ["BP_PROPERTIES", "USER_FIELDS", "SandboxError", "SapB1Sandbox"]
