"""bill_crm: a CRM's invoices API with numeric ``bill_*`` fields and summary or inline tax."""
