import { PageHeader } from "@/components/page";

export default function SetPassword() {
  return <PageHeader title="SetPassword" description="Coming in the next slice." />;
}
