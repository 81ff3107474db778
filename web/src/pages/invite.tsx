import { PageHeader } from "@/components/page";

export default function Invite() {
  return <PageHeader title="Invite" description="Coming in the next slice." />;
}
