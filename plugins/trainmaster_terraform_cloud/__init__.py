"""trainmaster adapter for HCP Terraform and Terraform Enterprise: target ``terraform-cloud``.

The release's Terraform package (a ``.tar.gz`` of the configuration) is uploaded once as a
configuration version; each environment's workspace runs that same configuration version.
See docs/terraform-cloud.md.
"""
