"""The sandbox SAP ECC: a demo company whose outbound IDocs reach the hub as an XML port would send them."""
