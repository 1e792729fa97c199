"""crm_v1: the CRM invoices API (docs/provider-api/crm_v1.txt)."""
