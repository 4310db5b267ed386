"""Indexes for the exception search (issue 14): a document by its DocNum or web reference,
the orders holding a SKU. Without them each search read every document and order line."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("erp", "0011_contact_persons"),
    ]

    operations = [
        *[migrations.AddIndex(model_name=model, index=models.Index(fields=["connection", "doc_num"],
                                                                   name=f"{name}_number_idx"))
          for model, name in (("salesorder", "order"), ("delivery", "delivery"), ("invoice", "invoice"),
                              ("creditmemo", "credit_memo"), ("return", "return"))],
        *[migrations.AddIndex(model_name=model, index=models.Index(fields=["connection", "num_at_card"],
                                                                   name=f"{name}_reference_idx"))
          for model, name in (("delivery", "delivery"), ("invoice", "invoice"), ("creditmemo", "credit_memo"),
                              ("return", "return"))],
        migrations.AddIndex(model_name="salesorderline",
                            index=models.Index(fields=["item_code", "document"], name="order_line_item_idx")),
    ]
