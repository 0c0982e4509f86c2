#!/bin/sh
# Usage: sh examples/terraform-cloud/run.sh URL   (URL printed by `python -m tests.fakes.terraform_cloud --port 0`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
sed "s|hostname: app.terraform.io .*|hostname: $1|" "$here/trainmaster.yaml" > "$work/trainmaster.yaml"
cd "$work"
mkdir config
cat > config/main.tf <<'TF'
variable "trainmaster" {}
variable "REPLICAS" { default = "1" }
output "release" { value = jsondecode(var.trainmaster).release_id }
TF
tar -czf infra.tar.gz -C config main.tf
export TF_API_TOKEN="${TF_API_TOKEN:-tfc-test-token}"
trainmaster validate --remote
trainmaster release create 1.0.0
trainmaster deploy 1.0.0 --to dev                 # uploads the configuration version once
trainmaster promote --from dev --to test          # the same configuration version, another workspace
status=0; trainmaster promote --from test --to prod || status=$?
[ "$status" -eq 3 ] || { echo "expected exit 3 (the plan waits for confirmation) from prod, got $status"; exit 1; }
trainmaster approve 1.0.0 --env prod --by release-manager   # applies the run (actions/apply)
trainmaster deploy 1.0.0 --to prod                # adopts the applied run
trainmaster history
